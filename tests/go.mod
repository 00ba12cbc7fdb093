module github.com/strata-log/strata/tests

go 1.26.0

require (
	github.com/strata-log/strata/pkg v0.0.0
	github.com/strata-log/strata/services/controller v0.0.0
)

replace (
	github.com/strata-log/strata/pkg => ../pkg
	github.com/strata-log/strata/services/controller => ../services/controller
	google.golang.org/genproto => google.golang.org/genproto v0.0.0-20261019180522-ce908d29299b
)
