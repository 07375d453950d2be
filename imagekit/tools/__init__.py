"""One wrapper module per external program (qemu-img, ssh, DIB...)."""
