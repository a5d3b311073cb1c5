"""Long-lived Ray actors: provider clients, router, LLM gateway, dedupe, event hub, scheduler.

Every named actor lives in the `stockray` namespace; jobs and Serve replicas look them up
by name and create them if missing (`get_if_exists`).
"""

NAMESPACE = "stockray"
