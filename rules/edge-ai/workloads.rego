# Shared helpers of the edgegate edge-AI rule pack: data defaults, workload kinds, containers
# with their JSON-pointer prefix, result objects, quantity parsing and the FinOpsPolicy lookup.
#
# Every helper name starts with `eg_` so that a team's own rules in `package main` do not
# collide with (or silently merge into) the pack's helpers.
#
# Written for regopy 1.5.2: a variable-indexed reference is never passed to a builtin (values
# are bound first with `some x in ...`), `with input as` is not used, and messages and pointers
# are built with concat: regopy's sprintf wraps a computed string argument (a function argument,
# or the result of concat/lower/upper/replace) in double quotes when the format has other text.
package main

import rego.v1

# ---------------------------------------------------------------------------------------------
# Data (data.edgegate.*) with defaults
# ---------------------------------------------------------------------------------------------

default eg_org := "edgegate.io"

eg_org := org if {
	org := data.edgegate.org
	is_string(org)
	org != ""
}

eg_cost_center_key := concat("", ["finops.", eg_org, "/cost-center"])

eg_project_id_key := concat("", ["finops.", eg_org, "/project-id"])

eg_classification_key := concat("", ["data.", eg_org, "/classification"])

# Empty or absent: the registry rule does not fire. Non-string entries are ignored (concat
# would be undefined on them and hide the message).
default eg_allowed_registries := []

eg_allowed_registries := regs if {
	raw := data.edgegate.allowed_registries
	is_array(raw)
	regs := [reg | some reg in raw; is_string(reg); trim_space(reg) != ""]
}

# Empty or absent: the four usual levels.
default eg_data_classifications := ["public", "internal", "confidential", "restricted"]

eg_data_classifications := levels if {
	raw := data.edgegate.data_classifications
	is_array(raw)
	levels := [level | some level in raw; is_string(level)]
	count(levels) > 0
}

default eg_banned_models := {}

eg_banned_models := banned if {
	banned := data.edgegate.banned_models
	is_object(banned)
}

default eg_knative_max_scale := 10

eg_knative_max_scale := limit if {
	limit := data.edgegate.knative_max_scale
	is_number(limit)
} else := limit if {
	raw := data.edgegate.knative_max_scale
	is_string(raw)
	regex.match(`^[0-9]{1,9}$`, raw)
	limit := to_number(raw)
}

# Every document of the run (all files), provided by the engine (see eg_finops_documents).
default eg_inventory := []

eg_inventory := docs if {
	docs := data.edgegate.inventory
	is_array(docs)
}

# ---------------------------------------------------------------------------------------------
# Workload kinds
# ---------------------------------------------------------------------------------------------

eg_template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}

eg_is_knative_service if {
	input.kind == "Service"
	is_string(input.apiVersion)
	startswith(input.apiVersion, "serving.knative.dev/")
}

eg_is_edge_ai if input.kind == "EdgeAIDeployment"

# Workloads that carry a pod spec.
eg_is_pod_workload if input.kind == "Pod"

eg_is_pod_workload if input.kind in eg_template_kinds

eg_is_pod_workload if input.kind == "CronJob"

eg_is_pod_workload if eg_is_knative_service

# Every workload the pack knows: pod workloads and EdgeAIDeployment.
eg_is_workload if eg_is_pod_workload

eg_is_workload if eg_is_edge_ai

default eg_name := "<unnamed>"

eg_name := name if {
	name := input.metadata.name
	is_string(name)
}

# "Deployment/batch-embedder": how a message names the document.
eg_workload := concat("/", [input.kind, eg_name])

# JSON pointer of the pod spec, and the pod spec itself.
eg_pod_prefix := "/spec" if input.kind == "Pod"

eg_pod_prefix := "/spec/template/spec" if input.kind in eg_template_kinds

eg_pod_prefix := "/spec/jobTemplate/spec/template/spec" if input.kind == "CronJob"

eg_pod_prefix := "/spec/template/spec" if eg_is_knative_service

eg_pod_spec := spec if {
	input.kind == "Pod"
	spec := input.spec
	is_object(spec)
}

eg_pod_spec := spec if {
	input.kind in eg_template_kinds
	spec := input.spec.template.spec
	is_object(spec)
}

eg_pod_spec := spec if {
	input.kind == "CronJob"
	spec := input.spec.jobTemplate.spec.template.spec
	is_object(spec)
}

eg_pod_spec := spec if {
	eg_is_knative_service
	spec := input.spec.template.spec
	is_object(spec)
}

# Every container (and init container) of the pod spec with its JSON pointer:
# {"container": {...}, "path": "/spec/template/spec/containers/0", "label": "container 'app'",
#  "init": false, "sidecar": false}
eg_containers contains entry if {
	some i, c in eg_pod_spec.containers
	is_object(c)
	entry := {
		"container": c,
		"path": concat("", [eg_pod_prefix, "/containers/", format_int(i, 10)]),
		"label": eg_container_label("container", c, i),
		"init": false,
		"sidecar": false,
	}
}

eg_containers contains entry if {
	some i, c in eg_pod_spec.initContainers
	is_object(c)
	entry := {
		"container": c,
		"path": concat("", [eg_pod_prefix, "/initContainers/", format_int(i, 10)]),
		"label": eg_container_label("init container", c, i),
		"init": true,
		"sidecar": eg_is_sidecar(c),
	}
}

eg_is_sidecar(c) := true if {
	c.restartPolicy == "Always"
} else := false

eg_container_label(what, c, i) := concat("", [what, " '", c.name, "'"]) if {
	is_string(c.name)
} else := concat("", [what, " #", format_int(i, 10)])

# ---------------------------------------------------------------------------------------------
# Results, pointers
# ---------------------------------------------------------------------------------------------

eg_result(rule_id, severity, title, msg, path) := {
	"msg": msg,
	"rule_id": rule_id,
	"severity": severity,
	"title": title,
	"path": path,
}

# A JSON pointer token: "~" -> "~0", "/" -> "~1" (annotation keys contain "/"); numbers as is.
eg_pointer_token(token) := format_int(token, 10) if {
	is_number(token)
} else := replace(replace(token, "~", "~0"), "/", "~1")

# JSON pointer to the field at `parts` (e.g. ["metadata", "annotations", key]; up to 5 keys)
# when it exists, else to its closest existing ancestor ("" = the document), so the engine can
# always map a result to a line. Plain references only: regopy's object.get raises an
# evaluation error when a path step meets an array or a string.
eg_existing_pointer(parts) := concat("", [concat("", ["/", eg_pointer_token(token)]) |
	some token in array.slice(parts, 0, eg_existing_depth(parts))
])

# How many leading keys of `parts` (up to 5) name an existing field: one reference per depth,
# deepest first, so a document that has the field costs one lookup.
eg_existing_depth(parts) := 5 if {
	count(parts) >= 5
	_ = input[parts[0]][parts[1]][parts[2]][parts[3]][parts[4]]
} else := 4 if {
	count(parts) >= 4
	_ = input[parts[0]][parts[1]][parts[2]][parts[3]]
} else := 3 if {
	count(parts) >= 3
	_ = input[parts[0]][parts[1]][parts[2]]
} else := 2 if {
	count(parts) >= 2
	_ = input[parts[0]][parts[1]]
} else := 1 if {
	count(parts) >= 1
	_ = input[parts[0]]
} else := 0

# A non-empty string annotation value.
# `not f(input.metadata, k)` is undefined, not true, when input.metadata is missing (OPA hoists
# a call's undefined arguments out of the negation): negate this one, whose argument is bound.
eg_has_annotation(key) if eg_annotation(input.metadata, key)

eg_annotation(metadata, key) := value if {
	value := metadata.annotations[key]
	is_string(value)
	trim_space(value) != ""
}

# ---------------------------------------------------------------------------------------------
# Quantities
# ---------------------------------------------------------------------------------------------

# Kubernetes quantity syntax (decimal SI, binary SI or exponent suffix).
# At most 15 digits before the point and a 2-digit exponent: larger values overflow regopy's
# units.parse (it prints an error and yields nothing), which would hide a quantity from the caps.
# No leading "+": regopy's units.parse_bytes("+1Gi") returns garbage.
eg_quantity_pattern := `^([0-9]{1,15}(\.[0-9]{0,9})?|\.[0-9]{1,9})([eE][+-]?[0-9]{1,2}|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$`

eg_valid_quantity(q) if {
	is_number(q)
	q >= 0
}

eg_valid_quantity(q) if {
	is_string(q)
	regex.match(eg_quantity_pattern, q)
	_ = units.parse(q)
}

# CPU cores: "500m" -> 0.5, "2" -> 2, "1.5" -> 1.5, 2 -> 2.
eg_cpu_cores(q) := q if is_number(q)

eg_cpu_cores(q) := cores if {
	is_string(q)
	regex.match(eg_quantity_pattern, q)
	cores := units.parse(q)
}

# Memory bytes: "1Gi" -> 1073741824, "512Mi" -> 536870912, "1G" -> 1000000000.
eg_memory_bytes(q) := q if is_number(q)

eg_memory_bytes(q) := bytes if {
	is_string(q)
	regex.match(eg_quantity_pattern, q)
	not endswith(q, "m")
	bytes := units.parse_bytes(q)
}

eg_memory_bytes(q) := bytes if {
	# "500m" of memory is 0.5 bytes in Kubernetes; units.parse reads the milli suffix.
	is_string(q)
	regex.match(eg_quantity_pattern, q)
	endswith(q, "m")
	bytes := units.parse(q)
}

# FinOpsPolicy maxMemoryGB is read as GiB (2^30 bytes): Kubernetes memory is written in Gi.
eg_gib := 1073741824

# A number for a message, no trailing zeros: eg_fmt with two decimals (0.5, 12, 32.6), eg_fmt3
# with three (8.001 cores). Built from integers: sprintf("%v") prints 8.000999999999999.
eg_fmt(x) := eg_fmt_scaled(x, 100)

eg_fmt3(x) := eg_fmt_scaled(x, 1000)

eg_fmt_scaled(x, scale) := concat("", [eg_sign(x), format_int(whole, 10), eg_fraction(digits)]) if {
	scaled := round(abs(x) * scale)
	whole := floor(scaled / scale)
	width := count(format_int(scale, 10)) - 1
	digits := trim_right(substring(format_int((scaled - whole * scale) + scale, 10), 1, width), "0")
}

eg_sign(x) := "-" if {
	x < 0
} else := ""

eg_fraction(digits) := "" if {
	digits == ""
} else := concat("", [".", digits])

# ---------------------------------------------------------------------------------------------
# FinOpsPolicy lookup (cross-document, over data.edgegate.inventory)
# ---------------------------------------------------------------------------------------------

eg_has_finops_ref if {
	eg_is_edge_ai
	is_string(input.spec.finopsPolicyRef)
}

# The run's FinOpsPolicy documents. edgegate also passes data.edgegate.inventory_by_kind
# (kind -> that kind's documents): iterating the whole inventory for every document costs about
# 0.1 ms per inventory element per document in regopy (16 docs/s with 500 documents). Without
# the index the inventory is scanned.
eg_finops_documents := docs if {
	by_kind := data.edgegate.inventory_by_kind
	is_object(by_kind)
	docs := object.get(by_kind, "FinOpsPolicy", [])
} else := [doc | some doc in eg_inventory; doc.kind == "FinOpsPolicy"]

# Label sets a FinOpsPolicy selector may match: the workload's own labels and its pod
# template's labels.
eg_label_sets contains labels if {
	labels := input.metadata.labels
	is_object(labels)
}

eg_label_sets contains labels if {
	input.kind in eg_template_kinds
	labels := input.spec.template.metadata.labels
	is_object(labels)
}

eg_label_sets contains labels if {
	input.kind == "CronJob"
	labels := input.spec.jobTemplate.spec.template.metadata.labels
	is_object(labels)
}

eg_label_sets contains labels if {
	eg_is_knative_service
	labels := input.spec.template.metadata.labels
	is_object(labels)
}

eg_selector_matches(selector, labels) if {
	every key, value in selector {
		labels[key] == value
	}
}

# The FinOpsPolicies that govern this document: for an EdgeAIDeployment with
# spec.finopsPolicyRef the one of that metadata.name; for any other workload every
# FinOpsPolicy whose spec.targetWorkloadSelector.matchLabels are all among its labels.
eg_finops_policies contains policy if {
	eg_has_finops_ref
	some policy in eg_finops_documents
	policy.metadata.name == input.spec.finopsPolicyRef
}

eg_finops_policies contains policy if {
	eg_is_workload
	not eg_has_finops_ref
	some policy in eg_finops_documents
	selector := policy.spec.targetWorkloadSelector.matchLabels
	is_object(selector)
	some labels in eg_label_sets
	eg_selector_matches(selector, labels)
}

eg_policy_name(policy) := name if {
	name := policy.metadata.name
	is_string(name)
} else := "<unnamed>"
