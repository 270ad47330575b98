package main

// The offline packages whose tests must catch a mutation: the pure core,
// its HTTP shell, the DittoFS client. Each mutation names the one where its
// rule is tested (a package's tests cost a link of its test binary, about
// 10 s on 2 cores: the list must fit in CI's all tier).
var (
	core   = []string{"./hook/"}
	shell  = []string{"./hook/server/"}
	client = []string{"./dittofs/"}
)

// Mutations is the fixed list: each breaks one rule the README promises
// ("How it works", "Trust model", "Reliability"), the way a plausible change
// would. Snippets are exact code (tabs and all); a snippet that is no longer
// in its file exactly once fails TestMutationsApply in the core tier, so a
// change to the code under a mutation is noticed at once.
var Mutations = []Mutation{
	// Never lose what exists: a failed poll keeps every adapter child.
	{
		Name: "failed-poll-drops-adapter-children", Rule: "a failed poll keeps every observed adapter child",
		File: "hook/sync.go", From: "keep := !fresh", To: "keep := false", Packages: core,
	},
	{
		Name: "failed-poll-forgets-last-known", Rule: "a failed poll renders the adapter children from status.adapters",
		File: "hook/adapters.go", From: "if o.poll.State != Succeeded {\n\t\treturn last\n\t}", To: "if o.poll.State != Succeeded {\n\t\treturn nil\n\t}", Packages: core,
	},
	{
		Name: "missing-storage-class-drops-statefulset", Rule: "a StorageClass missing holds back only a StatefulSet not made yet; one that exists stays",
		File: "hook/sync.go", From: "if s.observed.sts != nil || ((!ds.Percona.Enabled", To: "if ((!ds.Percona.Enabled", Packages: core,
	},
	{
		Name: "storage-classes-read-under-hook-v1", Rule: "under hook version v1 (whose StorageClasses always come empty) no class reads as missing",
		File: "hook/children.go", From: "err == nil && version == HookV2 {", To: "err == nil {", Packages: core,
	},
	{
		Name: "related-secrets-of-any-namespace", Rule: "the customize answer asks for Secrets in the parent's namespace only",
		File: "hook/customize.go", From: "Resource: \"secrets\", Namespace: req.Parent.Metadata.Namespace,", To: "Resource: \"secrets\",", Packages: core,
	},
	{
		Name: "v2-keys-accepted-as-names", Rule: "an object is read only when filed as its hook version files it",
		File: "hook/children.go", From: "if n != want {", To: "if n != want && n != name {", Packages: shell,
	},
	{
		Name: "not-running-adapter-loses-service", Rule: "an enabled adapter that is not running keeps its Service",
		File: "hook/sync.go", From: "if _, no := refused[a.Type]; no || !a.Enabled {", To: "if _, no := refused[a.Type]; no || !a.Enabled || !a.Running {", Packages: core,
	},
	{
		Name: "pod-not-ready-still-polled", Rule: "DittoFS is polled only when the StatefulSet has a ready replica",
		File: "hook/sync.go", From: "if s.observed.readyReplicas() < 1 {", To: "if false {", Packages: core,
	},
	{
		Name: "invalid-spec-drops-adapter-children", Rule: "a spec the hook cannot use keeps every child as it is",
		File: "hook/sync.go", From: "children = append(children, s.observed.children[key][n].keep())",
		To: "if !isAdapterChild(s.server.Name, n) {\n\t\t\t\tchildren = append(children, s.observed.children[key][n].keep())\n\t\t\t}", Packages: core,
	},

	// Order of access.
	{
		Name: "policy-removed-with-its-service", Rule: "a removed adapter loses its Service first, its NetworkPolicy on the next sync",
		File: "hook/sync.go", From: "keep = s.observed.has(KeyService, n)", To: "keep = false", Packages: core,
	},
	{
		Name: "policy-added-after-its-service", Rule: "a new adapter's NetworkPolicy is answered before its Service exists",
		File: "hook/sync.go", From: "\t\tif ds.NetworkPolicy.Enabled {\n\t\t\tnp := makeAdapterPolicy(ds, a)",
		To: "\t\tif ds.NetworkPolicy.Enabled && s.observed.has(KeyService, adapterName(ds.Name, a.Type)) {\n\t\t\tnp := makeAdapterPolicy(ds, a)", Packages: core,
	},
	{
		Name: "service-with-its-new-policy", Rule: "a new adapter's Service is answered only once its NetworkPolicy is observed (Metacontroller creates an answer's children in no set order)",
		File: "hook/sync.go", From: "if !policyObserved && !s.observed.has(KeyService, svc.Name) {", To: "if !policyObserved && !s.observed.has(KeyService, svc.Name) && false {", Packages: core,
	},
	{
		Name: "removal-status-written-twice", Rule: "a removed adapter's status is final in the sync that deletes its Service: one status write per removal (docs/sizing.md)",
		File: "hook/status.go", From: "\tif !a.Enabled {\n\t\treturn st\n\t}",
		To: "\tif !a.Enabled {\n\t\tif services[adapterName(cr, a.Type)] != nil {\n\t\t\tst.Service = adapterName(cr, a.Type)\n\t\t}\n\t\treturn st\n\t}", Packages: core,
	},
	{
		Name: "disabled-policies-kept-on-failure", Rule: "networkPolicy.enabled false removes every policy, whether or not DittoFS answers",
		File: "hook/sync.go", From: "if key == KeyNetworkPolicy && !policies {", To: "if key == KeyNetworkPolicy && !policies && key == \"\" {", Packages: core,
	},

	// Secrets.
	{
		Name: "observed-secret-generated-again", Rule: "observed Secrets are returned with their values unchanged",
		File: "hook/secret.go", From: "if observed != nil {", To: "if observed != nil && len(observed.Data) > 99 {", Packages: core,
	},

	// No restarts: the pod template does not depend on adapters.
	{
		Name: "pod-template-follows-adapters", Rule: "adapter changes never touch the pod template",
		File: "hook/sync.go", From: "hash := configHash(ds, configYAML, s.observed)", To: "hash := configHash(ds, configYAML+describeAdapters(known), s.observed)", Packages: core,
	},

	// Quiet: an unchanged situation yields an unchanged status.
	{
		Name: "transition-time-rewritten", Rule: "conditions keep lastTransitionTime unless their status flips",
		File: "hook/conditions.go", From: "nc.LastTransitionTime = old.LastTransitionTime", To: "_ = old", Packages: core,
	},

	// Messages bounded.
	{
		Name: "condition-message-bound-raised", Rule: "a condition message is one line of at most 1,024 characters",
		File: "hook/conditions.go", From: "const maxMessageLength = 1024", To: "const maxMessageLength = 8192", Packages: core,
	},
	{
		Name: "condition-message-not-one-line", Rule: "a condition message is one line of at most 1,024 characters",
		File: "hook/conditions.go", From: "Message: conditionMessage(c.Message),", To: "Message: c.Message,", Packages: core,
	},
	{
		Name: "dittofs-detail-unbounded", Rule: "what DittoFS says reaches an error bounded and on one line",
		File: "dittofs/errors.go", From: "e.Message = cmp.Or(OneLine(p.Detail, maxMessage), OneLine(p.Title, maxMessage))", To: "e.Message = cmp.Or(p.Detail, p.Title)", Packages: client,
	},

	// Adapter lists: no two children share a name, at most 32 types.
	{
		Name: "shared-child-name-accepted", Rule: "two adapter types whose children would share a name are a malformed answer",
		File: "hook/adapters.go", From: "if other, ok := claimed[n]; ok {", To: "if other, ok := claimed[n]; ok && other == \"\" {", Packages: core,
	},
	{
		Name: "duplicate-type-not-resolved", Rule: "a type reported twice is resolved to one (enabled, running, oldest)",
		File: "hook/adapters.go", From: "usable = slices.CompactFunc(usable, func(a, b dittofs.Adapter) bool { return a.Type == b.Type })", To: "", Packages: core,
	},
	// One adapter's problem stays that adapter's (issue 23).
	{
		Name: "bad-item-fails-whole-list", Rule: "an item of the adapter list the hook cannot read is that item's problem: every other adapter is applied",
		File: "hook/adapters.go", From: "rejected = append(rejected, a)", To: "return nil, nil, fmt.Errorf(\"%s\", a.Problem)", Packages: core,
	},
	{
		Name: "bad-item-drops-known-children", Rule: "an unreadable item of a known type keeps that type's children as last known",
		File: "hook/adapters.go", From: "known = append(known, l)", To: "_ = l", Packages: core,
	},
	{
		Name: "degraded-reads-ready", Rule: "an adapter DittoFS calls degraded makes AdaptersReady False (AdapterDegraded)",
		File: "hook/status.go", From: "case badHealth(a.Health):", To: "case false:", Packages: core,
	},
	{
		Name: "legacy-admin-secret-not-adopted", Rule: "upstream's legacy <name>-admin-credentials password seeds a missing bootstrap Secret",
		File: "hook/secret.go", From: "sec.Data = legacy", To: "_ = legacy", Packages: core,
	},
	{
		Name: "too-many-adapters-accepted", Rule: "more than 32 adapter types is a malformed answer",
		File: "hook/adapters.go", From: "const maxAdapters = 32", To: "const maxAdapters = 1000", Packages: core,
	},

	// The trust boundary: no redirect, names before URLs.
	{
		Name: "redirect-followed", Rule: "the DittoFS client never follows a redirect",
		File: "dittofs/client.go", From: "noRedirects.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }",
		To: "noRedirects.CheckRedirect = hc.CheckRedirect", Packages: client,
	},
	{
		Name: "namespace-not-validated", Rule: "the parent's namespace is a DNS-1123 label before any URL is built from it",
		File: "hook/wire.go", From: "case len(validation.IsDNS1123Label(p.Metadata.Namespace)) > 0:", To: "case false:", Packages: shell,
	},
	{
		Name: "name-not-validated", Rule: "the parent's name is a DNS-1123 subdomain before any URL is built from it",
		File: "hook/wire.go", From: "case len(validation.IsDNS1123Subdomain(p.Metadata.Name)) > 0:", To: "case false:", Packages: shell,
	},
	{
		Name: "url-user-info-accepted", Rule: "a DittoFS URL with user information is refused",
		File: "dittofs/client.go", From: "case u.User != nil:", To: "case false:", Packages: shell,
	},

	// Only an operator-role account is touched: on login, on refresh, on
	// repair and on delete.
	{
		Name: "any-role-accepted", Rule: "only an account with the operator role is used, reset or deleted",
		File: "dittofs/account.go", From: "\tcase OperatorRole:\n\t\treturn nil\n\tcase \"user\", \"admin\":",
		To: "\tcase OperatorRole, \"user\", \"admin\":\n\t\treturn nil\n\tcase \"\":", Packages: client,
	},
	{
		Name: "role-unchecked-at-login", Rule: "the role is checked after every login",
		File: "dittofs/account.go", From: "err = checkRole(t.Operator.Username, tok.User.Role)", To: "err = nil", Packages: client,
	},
	{
		Name: "role-unchecked-at-refresh", Rule: "the role is checked after every token refresh",
		File: "dittofs/account.go", From: "if err := checkRole(t.Operator.Username, tok.User.Role); err != nil {\n\t\t\t\ts.access, s.refresh = \"\", \"\"",
		To: "if err := error(nil); err != nil {\n\t\t\t\ts.access, s.refresh = \"\", \"\"", Packages: client,
	},
	{
		Name: "role-unchecked-at-repair", Rule: "an existing account is looked up before its password is reset",
		File: "dittofs/account.go", From: "if err = checkRole(t.Operator.Username, u.Role); err == nil {", To: "if err = checkRole(t.Operator.Username, OperatorRole+u.Role[:0]); err == nil {", Packages: client,
	},
	{
		Name: "role-unchecked-at-delete", Rule: "an existing account is looked up before it is deleted",
		File: "dittofs/account.go", From: "if err := checkRole(t.Operator.Username, u.Role); err != nil {\n\t\ta.Forget(t.Key)",
		To: "if err := checkRole(t.Operator.Username, OperatorRole+u.Role[:0]); err != nil {\n\t\ta.Forget(t.Key)", Packages: client,
	},

	// Polling at the interval.
	{
		Name: "resync-paced-without-bound", Rule: "the resync is paced by Metacontroller's lateness, at most a fifth of the polling interval",
		File: "hook/pace.go", From: "cut := min(lag.Seconds(), steady/MaxPaceFraction)", To: "cut := lag.Seconds()", Packages: core,
	},
}
