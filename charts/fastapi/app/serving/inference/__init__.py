"""The data plane's decisions: the variant a request gets, its validated input, the prediction."""
