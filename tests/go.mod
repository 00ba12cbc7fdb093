module github.com/strata-log/strata/tests

go 1.26.0
