"""HTTP on top of the layers below: the application factory, middleware, error bodies and routes."""
