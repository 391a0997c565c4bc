"""User-facing errors: the CLI prints them as one line and exits with code 2."""


class ConfigError(ValueError):
    """Bad user input. ``where`` names the file and field, e.g. ``suites/x.yaml: envs[0].id``."""

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)

    def at(self, where: str) -> "ConfigError":
        """The same error, located (an inner location is kept after the outer one)."""
        return ConfigError(self.message, f"{where}.{self.where}" if self.where else where)


class TrainingDivergedError(RuntimeError):
    """A loss or metric became NaN/inf during training."""
