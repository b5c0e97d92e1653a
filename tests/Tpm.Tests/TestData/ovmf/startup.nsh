fs0:
vmlinuz.efi initrd=\initrd.gz console=ttyS0 quiet panic=-1
