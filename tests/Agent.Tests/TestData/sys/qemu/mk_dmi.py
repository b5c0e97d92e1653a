#!/usr/bin/env python3
"""Writes sys/firmware/dmi/tables/DMI: the SMBIOS structures QEMU (SeaBIOS, pc-q35) gives a guest
started with -smbios type=1,serial=KLD-SERIAL-1 -m 1536 (types 0, 1, 3, 17 and 127), by hand from
DSP0134: header (type, length, handle), formatted area, strings. One extra 512 MiB DIMM with a
serial is added so the test sees two slots and an extended-speed-free type 17."""
import struct, uuid, os

def structure(type_, handle, body, strings):
    formatted = struct.pack('<BBH', type_, 4 + len(body), handle) + body
    tail = b''.join(s.encode('latin-1') + b'\0' for s in strings) + b'\0' if strings else b'\0\0'
    return formatted + tail

bios = structure(0, 0x0000, struct.pack('<BBHBBQ', 1, 2, 0xe800, 3, 0, 0x08) + b'\0\0\0\0' + bytes([0, 0, 0xff, 0xff]),
                 ['SeaBIOS', '1.16.3-debian-1.16.3-2', '04/01/2014'])
u = uuid.UUID('6b1d2f4e-8c2a-4f7e-9a10-4b2d3c4e5f60')
system = structure(1, 0x0100, bytes([1, 2, 3, 4]) + u.bytes_le + bytes([6, 0, 0]),
                   ['QEMU', 'Standard PC (Q35 + ICH9, 2009)', 'pc-q35-8.2', 'KLD-SERIAL-1'])
chassis = structure(3, 0x0300, bytes([1, 0x01, 2, 0, 0, 3, 3, 3, 2]) + struct.pack('<I', 0) + bytes([0, 0, 0, 0]),
                    ['QEMU', 'pc-q35-8.2'])

def dimm(handle, size_mib, locator, serial):
    # offsets from 0x04: array handle, error handle, total width, data width, size, form factor,
    # device set, locator (str), bank (str), type, type detail, speed, manufacturer, serial, asset, part
    body = struct.pack('<HHHHHBBBBBHHBBBB', 0x1000, 0xfffe, 64, 64, size_mib, 0x09, 0, 1, 0, 0x07, 0x0002, 0, 2, 3 if serial else 0, 0, 0)
    return structure(17, handle, body, [locator, 'QEMU'] + ([serial] if serial else []))

dimms = dimm(0x1100, 1024, 'DIMM 0', None) + dimm(0x1101, 512, 'DIMM 1', 'KLD-DIMM-1') + dimm(0x1102, 0, 'DIMM 2', None)
end = structure(127, 0x7f00, b'', [])
os.makedirs('sys/firmware/dmi/tables', exist_ok=True)
open('sys/firmware/dmi/tables/DMI', 'wb').write(bios + system + chassis + dimms + end)
