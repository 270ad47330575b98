// Package promscrape reads the Prometheus text endpoints of the real
// components a fleet benchmark runs (the hook's replicas, Metacontroller,
// kube-apiserver) and what changed between two reads of one: a counter's
// change (Sum), a histogram's change (Histogram, Hist.Add) and the bucket
// bound its quantiles fall under (Hist.Quantile, Hist.Summary).
//
// It is a package of its own, beside the harness, because two test
// packages read the same metrics: test/soak from pods on the real node and
// test/scale (build tag scale) from processes on loopback. A non-test
// package compiles under both build configurations, so they share this one
// reading instead of keeping a copy each. What differs between them is a
// caller's choice, not a second implementation: how long a scrape may take
// (Scrape's timeout) and which quantiles a summary names.
//
// A Series keys each sample by its name and labels as the endpoint wrote
// them ("name{a=\"b\"}"); samples written twice under one key are added.
// The reading is deliberately small: no exposition-format library, no
// timestamps (a sample line is "key value"), no type metadata (comments
// are skipped). It starts nothing.
package promscrape
