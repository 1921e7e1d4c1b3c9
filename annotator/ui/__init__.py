"""The annotation UI (Textual). Everything it decides goes through ``annotator.services.session``."""
