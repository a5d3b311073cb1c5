"""Analysis logic without Ray: facts, prompts, grounding, reports, and the lexicon sentiment
fallback (`core.analysis.lexicon`). Names are imported from the module that defines them."""
