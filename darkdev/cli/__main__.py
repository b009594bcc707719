"""`python -m darkdev.cli`: the darkdev command line."""

from darkdev.cli import main

if __name__ == "__main__":
    main()
