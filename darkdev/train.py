"""`python -m darkdev.train`: training's command line (the code lives in darkdev/training/)."""

from darkdev.training.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
