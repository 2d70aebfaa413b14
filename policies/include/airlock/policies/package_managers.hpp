// The registry hosts an environment reaches when its limited networking sets allow_package_managers
// (API.md §4): the public registries of npm, PyPI, crates.io, the Go module proxy, Debian and Ubuntu,
// RubyGems and Maven Central. docs/policy.md lists them; a registry not here is named in allowed_hosts.
#pragma once

#include <array>
#include <string_view>

namespace airlock::policies {

inline constexpr std::array<std::string_view, 21> kPackageManagerHosts = {
    "registry.npmjs.org",                          // npm
    "registry.yarnpkg.com",                        // yarn (a mirror of npm's)
    "pypi.org", "files.pythonhosted.org",          // pip, uv
    "crates.io", "index.crates.io", "static.crates.io",  // cargo
    "proxy.golang.org", "sum.golang.org",          // go
    "deb.debian.org", "security.debian.org",       // apt (Debian)
    "archive.ubuntu.com", "security.ubuntu.com", "ports.ubuntu.com",  // apt (Ubuntu)
    "rubygems.org", "index.rubygems.org",          // gem, bundler
    "repo.maven.apache.org", "repo1.maven.org",    // maven, gradle
    "dl-cdn.alpinelinux.org",                      // apk
    "registry.bun.sh",                             // bun's mirror
    "api.nuget.org",                               // dotnet
};

}  // namespace airlock::policies
