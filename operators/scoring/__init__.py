"""Model outputs other than chat text: token log-probabilities and embeddings, local or from an endpoint."""
