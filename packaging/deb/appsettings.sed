# The package's /etc/kldload/appsettings.json: the repository's appsettings.json with these changes
# (scripts/build-deb.sh; tests/Provisioner.Tests/Hosting/PackageAdminUrlsTests.cs applies the same file).
# The data directory where the package keeps it.
s|"DataDir": "./var"|"DataDir": "/var/lib/kldload"|
s|Relative to the working directory.|The package keeps it in /var/lib/kldload (0700, user kldload).|
# The admin surface off the boot LAN: loopback, and the hub's mesh address while the mesh is on.
s|// Empty (default) = everything stays on the --urls listeners over plain HTTP, as before.|// The package sets loopback and https://mesh-hub:8443, the hub's mesh addresses (only while Mesh:Enabled).|
s|"Urls": \[\],|"Urls": [ "https://127.0.0.1:8443", "https://mesh-hub:8443" ],|
