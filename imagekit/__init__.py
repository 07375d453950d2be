"""imagekit: build and maintain OpenStack Trove guest database images."""

__version__ = "0.1.0"
