# Container security context: run as non-root (EGP003), no privilege escalation (EGP004).
package main

import rego.v1

# The value of a securityContext field for a container: its own securityContext first, then
# the pod's (Kubernetes' precedence). Undefined when neither sets it.
eg_effective_sc(entry, field) := value if {
	value := entry.container.securityContext[field]
} else := value if {
	value := eg_pod_spec.securityContext[field]
}

# True only when the effective runAsNonRoot is true. `not eg_effective_sc(e, f) == true` would
# be undefined (not true) under OPA when neither sets the field: a silent pass.
eg_runs_as_non_root(entry) if eg_effective_sc(entry, "runAsNonRoot") == true

eg_container_sets(entry, field) if {
	_ = entry.container.securityContext[field]
}

# Pointer to where a securityContext field is (or would be) set: the container's field, else
# the pod's field, else the container's securityContext, else the container.
eg_sc_pointer(entry, field) := concat("", [entry.path, "/securityContext/", field]) if {
	_ = entry.container.securityContext[field]
} else := concat("", [eg_pod_prefix, "/securityContext/", field]) if {
	_ = eg_pod_spec.securityContext[field]
} else := concat("", [entry.path, "/securityContext"]) if {
	is_object(entry.container.securityContext)
} else := entry.path

# ---------------------------------------------------------------------------------------------
# EGP003 runAsNonRoot: true
# ---------------------------------------------------------------------------------------------

deny contains result if {
	some entry in eg_containers
	not eg_runs_as_non_root(entry)
	result := eg_result(
		"EGP003", "high", "Run as non-root",
		concat("", [eg_workload, ": ", entry.label, " ", eg_non_root_problem(entry)]),
		eg_sc_pointer(entry, "runAsNonRoot"),
	)
}

eg_non_root_problem(entry) := "sets securityContext.runAsNonRoot: false; set it to true" if {
	entry.container.securityContext.runAsNonRoot == false
} else := "inherits runAsNonRoot: false from the pod securityContext; set runAsNonRoot: true" if {
	not eg_container_sets(entry, "runAsNonRoot")
	eg_pod_spec.securityContext.runAsNonRoot == false
} else := "does not set runAsNonRoot: true (in its securityContext or the pod's)"

deny contains result if {
	some entry in eg_containers
	eg_effective_sc(entry, "runAsUser") == 0
	result := eg_result(
		"EGP003", "high", "Run as non-root",
		concat("", [eg_workload, ": ", entry.label, " runs as UID 0 (runAsUser: 0); use a non-root UID"]),
		eg_sc_pointer(entry, "runAsUser"),
	)
}

# ---------------------------------------------------------------------------------------------
# EGP004 allowPrivilegeEscalation: false
# ---------------------------------------------------------------------------------------------

deny contains result if {
	some entry in eg_containers
	not entry.container.securityContext.allowPrivilegeEscalation == false
	result := eg_result(
		"EGP004", "high", "No privilege escalation",
		concat("", [eg_workload, ": ", entry.label, " ", eg_escalation_problem(entry)]),
		eg_sc_pointer(entry, "allowPrivilegeEscalation"),
	)
}

eg_escalation_problem(entry) := "sets securityContext.allowPrivilegeEscalation: true; set it to false" if {
	entry.container.securityContext.allowPrivilegeEscalation == true
} else := "does not set securityContext.allowPrivilegeEscalation: false"
