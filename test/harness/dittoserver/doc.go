// Package dittoserver reads the fleet's DittoServers as the API server
// lists them, for the tests that measure a fleet (test/soak on the real
// node, test/scale on loopback): the part of each object they judge it by
// (Object: its generation, its conditions, its adapters' Services and
// addresses), whether it is Ready at its generation (Object.Ready) and
// whether an adapter is at an address (Object.AtAddress). Each test keeps
// its own rule for which adapters must be at an address and which reason it
// reports.
//
// It is a package of its own rather than part of cluster, which starts a
// Kubernetes control plane and knows no resource of the hook's, or of
// promscrape, which reads metrics: it is the shape of the hook's custom
// resource as a test sees it, decoded from the API server's JSON and not
// from the hook's Go types, so that a test reads what a user would. It
// lists through any Doer (a *cluster.Cluster, or a *node.Node, which
// embeds one). It starts nothing.
package dittoserver
