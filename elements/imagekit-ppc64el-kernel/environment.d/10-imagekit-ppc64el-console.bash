if [ "${ARCH:-}" = ppc64el ]; then
    export DIB_BOOTLOADER_SERIAL_CONSOLE=${DIB_BOOTLOADER_SERIAL_CONSOLE:-hvc0}
fi
