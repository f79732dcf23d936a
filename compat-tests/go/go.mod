module dqlite-compat

go 1.22

require (
	github.com/anishathalye/porcupine v1.3.1
	github.com/canonical/go-dqlite v1.11.9
	github.com/canonical/go-dqlite/v3 v3.0.4
)

require (
	github.com/Rican7/retry v0.3.1 // indirect
	github.com/google/renameio v1.0.1 // indirect
	github.com/mattn/go-sqlite3 v1.14.7 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	golang.org/x/sync v0.8.0 // indirect
	gopkg.in/yaml.v2 v2.4.0 // indirect
)
