"""``make promote``: promote a commit of main to prod, after validating it and showing what prod changes."""
