"""darkdev: raw photo developer for night and extreme low-light photography."""

__version__ = "0.1.0"
