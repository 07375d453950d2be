"""Building guest images with diskimage-builder: the DIB environment
(mirrors, caches, proxies), the one `disk-image-create` wrapper with its log
and phase display, the local and ssh builders, staging, the trove wheelhouse
and the post-build step."""
