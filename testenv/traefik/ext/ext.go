// Package ext stands in for Traefik's dynamic-configuration extension module.
//
// Traefik's go.mod replaces github.com/traefik/traefik/dynamic/ext with a directory of its
// repository that is a module of its own, so it is not in the traefik/v3 module zip that the Go
// module proxy serves. Traefik's open-source build only embeds two empty structs from it
// (dynamic.HTTP and dynamic.Router inline them), so empty types are all a build needs.
package ext

// HTTP is inlined into Traefik's dynamic.HTTP; empty in the open-source build.
type HTTP struct{}

// Router is inlined into Traefik's dynamic.Router; empty in the open-source build.
type Router struct{}
