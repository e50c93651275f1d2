module gofast.dev/testenv/traefik

go 1.26.0

// The same replaces and excludes as Traefik's own go.mod (a dependency's replaces do not apply
// to the module that builds it); dynamic/ext is a stub, see ext/ext.go.
replace github.com/traefik/traefik/dynamic/ext => ./ext

replace (
	github.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20260804094822-b975dcaa8c48
	github.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59
)

exclude github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible
