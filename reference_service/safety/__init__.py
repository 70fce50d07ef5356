"""Safety guards: moderation of input and output, PII masked before the upstream."""
