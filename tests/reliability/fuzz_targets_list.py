"""Names of the atheris targets, importable without atheris itself."""
TARGET_NAMES = ["filter_parser", "image_loader", "text_loader"]
