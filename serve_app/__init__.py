"""Ray Serve deployments: the FastAPI ingress and its companions."""
