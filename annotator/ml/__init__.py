"""Machine suggestions: model loading, inference, training and evaluation. Never imports Textual."""
