"""Long-lived Ray actors: provider clients, router, LLM gateway, dedupe, event hub, scheduler."""
