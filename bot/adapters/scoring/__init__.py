"""Scoring a model behind the kernel: `sandbox` isolates, `score_worker` runs inside it,
`runner` starts it and reads the predictions back."""
