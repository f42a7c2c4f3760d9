# FinOpsPolicy rules (cross-document, over data.edgegate.inventory):
#   EGP009 CPU/memory limits within the caps (costLimits.maxCPUCores, costLimits.maxMemoryGB) of
#          the FinOpsPolicies that govern a workload;
#   EGP010 optimizationRules.modelQuantizationRequired: true demands a quantized model.
#
# Which FinOpsPolicy governs a workload: see eg_finops_policies in workloads.rego.
# Caps are per instance: an EdgeAIDeployment's spec.resourceLimits (per target device), a pod
# workload's per-pod total (replicas and scale are not multiplied in: that is the cost gate's
# job). maxMemoryGB is read as GiB (2^30 bytes).
package main

import rego.v1

# ---------------------------------------------------------------------------------------------
# EGP009 limits within FinOpsPolicy caps
# ---------------------------------------------------------------------------------------------

eg_finops_title := "Within FinOpsPolicy caps"

# Fail closed: the referenced policy is not among the checked documents.
deny contains result if {
	eg_has_finops_ref
	count(eg_finops_policies) == 0
	result := eg_result(
		"EGP009", "high", eg_finops_title,
		concat("", [
			eg_workload, ": FinOpsPolicy '", input.spec.finopsPolicyRef,
			"' (spec.finopsPolicyRef) is not among the checked documents; its caps cannot be checked",
		]),
		"/spec/finopsPolicyRef",
	)
}

# Per-instance CPU cores and memory bytes, with a pointer and a description for messages.
eg_instance_usage contains usage if {
	eg_is_edge_ai
	value := input.spec.resourceLimits.cpu
	cores := eg_cpu_cores(value)
	usage := {
		"resource": "cpu", "amount": cores, "path": "/spec/resourceLimits/cpu",
		"what": concat("", ["spec.resourceLimits.cpu ", eg_show(value)]),
	}
}

eg_instance_usage contains usage if {
	eg_is_edge_ai
	value := input.spec.resourceLimits.memory
	bytes := eg_memory_bytes(value)
	usage := {
		"resource": "memory", "amount": bytes, "path": "/spec/resourceLimits/memory",
		"what": concat("", ["spec.resourceLimits.memory ", eg_show(value)]),
	}
}

eg_instance_usage contains usage if {
	eg_is_pod_workload
	some resource in ["cpu", "memory"]
	amounts := [amount |
		some entry in eg_containers
		amount := eg_container_amount(entry.container, resource)
	]
	count(amounts) > 0
	amount := eg_pod_amount(resource)
	usage := {
		"resource": resource, "amount": amount, "path": eg_pod_usage_pointer(resource),
		"what": concat("", ["the per-pod ", resource, " limit"]),
	}
}

# A container's limit for a resource (its request when it sets no limit), parsed.
eg_container_amount(c, resource) := amount if {
	value := eg_resource_value(c, concat("", ["limits.", resource]))
	amount := eg_parse_amount(resource, value)
} else := amount if {
	value := eg_resource_value(c, concat("", ["requests.", resource]))
	amount := eg_parse_amount(resource, value)
}

eg_parse_amount("cpu", value) := eg_cpu_cores(value)

eg_parse_amount("memory", value) := eg_memory_bytes(value)

# Kubernetes' effective pod amount: the larger of (containers + sidecar init containers) and
# the largest ordinary init container (those run one at a time, before the others).
eg_pod_amount(resource) := max([running, init]) if {
	running := sum([amount |
		some entry in eg_containers
		eg_runs_alongside(entry)
		amount := eg_container_amount(entry.container, resource)
	])
	init := max(array.concat([0], [amount |
		some entry in eg_containers
		entry.init
		not entry.sidecar
		amount := eg_container_amount(entry.container, resource)
	]))
}

eg_runs_alongside(entry) if not entry.init

eg_runs_alongside(entry) if entry.sidecar

# One container with the resource: its field; several: the containers list.
eg_pod_usage_pointer(resource) := pointer if {
	paths := [path |
		some entry in eg_containers
		eg_container_amount(entry.container, resource)
		path := eg_amount_pointer(entry, resource)
	]
	count(paths) == 1
	pointer := paths[0]
} else := concat("", [eg_pod_prefix, "/containers"])

eg_amount_pointer(entry, resource) := concat("", [entry.path, "/resources/limits/", resource]) if {
	eg_resource_value(entry.container, concat("", ["limits.", resource]))
} else := concat("", [entry.path, "/resources/requests/", resource])

eg_cap_field := {"cpu": "maxCPUCores", "memory": "maxMemoryGB"}

# Cap in the usage's unit: cores, or bytes for maxMemoryGB (GiB).
eg_cap_amount("cpu", cap) := cap

eg_cap_amount("memory", cap) := cap * eg_gib

eg_show_amount("cpu", amount) := concat("", [eg_fmt3(amount), " cores"])

eg_show_amount("memory", amount) := concat("", [eg_fmt(amount / eg_gib), " GiB"])

deny contains result if {
	some policy in eg_finops_policies
	some usage in eg_instance_usage
	field := eg_cap_field[usage.resource]
	cap := policy.spec.costLimits[field]
	is_number(cap)
	usage.amount > eg_cap_amount(usage.resource, cap)
	result := eg_result(
		"EGP009", "high", eg_finops_title,
		concat("", [
			eg_workload, ": ", usage.what, " (", eg_show_amount(usage.resource, usage.amount),
			") exceeds ", field, " ", eg_fmt(cap), " of FinOpsPolicy '", eg_policy_name(policy), "'",
		]),
		usage.path,
	)
}

# ---------------------------------------------------------------------------------------------
# EGP010 quantized model when the FinOpsPolicy requires it
# ---------------------------------------------------------------------------------------------
#
# Applies to EdgeAIDeployment (the kind with a model reference, spec.modelRef). The model is
# quantized when spec.modelRef.quantization is a quantized format (matched case-insensitively
# against eg_quantization_pattern); when that field is absent, when spec.modelRef.name carries
# a quantization marker as a separate token (eg_quantized_name_pattern: int8, int4, uint8,
# fp16, bf16, fp8, nf4, q4/q8 and GGUF types like q4_k_m, iq2_xs, gptq, awq, w8a8, quant,
# quantized), e.g. "vision-analytics-v2-int8.onnx", "llama-3-8b.Q4_K_M.gguf", "bert-quant".
# An explicit quantization field always wins over the name ("fp32" with an "-int8" name fails).

eg_quantization_pattern := `^(u?int[1-8]|fp16|float16|half|bf16|bfloat16|fp8(_e4m3|_e5m2)?|fp4|nf4|mxfp[4-8]|q[1-8](_[0-9a-z]+)*|iq[1-4](_[0-9a-z]+)*|gptq|awq|w[2-8]a(8|16))$`

eg_quantized_name_pattern := `(^|[^a-z0-9])(u?int[1-8]|fp16|bf16|fp8|fp4|nf4|q[1-8](_[0-9a-z]+)*|iq[1-4](_[0-9a-z]+)*|gptq|awq|w[2-8]a(8|16)|quant|quantized)([^a-z0-9]|$)`

eg_has_quantization_field if {
	value := input.spec.modelRef.quantization
	value != null
}

eg_model_quantized if {
	value := input.spec.modelRef.quantization
	is_string(value)
	regex.match(eg_quantization_pattern, lower(value))
}

eg_model_quantized if {
	not eg_has_quantization_field
	name := input.spec.modelRef.name
	is_string(name)
	regex.match(eg_quantized_name_pattern, lower(name))
}

eg_quantization_problem := concat("", [
	"spec.modelRef.quantization ", eg_show(input.spec.modelRef.quantization),
	" is not a quantized format (e.g. int8, int4, uint8, fp16, q4_k_m)",
]) if {
	eg_has_quantization_field
} else := concat("", [
	"model '", input.spec.modelRef.name, "' has no spec.modelRef.quantization and its name marks no quantization",
]) if {
	is_string(input.spec.modelRef.name)
} else := "spec.modelRef names no model"

deny contains result if {
	eg_is_edge_ai
	some policy in eg_finops_policies
	policy.spec.optimizationRules.modelQuantizationRequired == true
	not eg_model_quantized
	result := eg_result(
		"EGP010", "medium", "Quantized model required",
		concat("", [
			eg_workload, ": FinOpsPolicy '", eg_policy_name(policy),
			"' requires a quantized model (modelQuantizationRequired: true), but ",
			eg_quantization_problem, "; set spec.modelRef.quantization (e.g. int8) or reference a quantized model",
		]),
		eg_quantization_pointer,
	)
}

eg_quantization_pointer := "/spec/modelRef/quantization" if {
	eg_has_quantization_field
} else := eg_existing_pointer(["spec", "modelRef", "name"])
