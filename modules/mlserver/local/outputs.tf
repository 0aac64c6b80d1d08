output "inference_url" {
  description = "MLServer base URL (V2 inference protocol: /v2/models/<model_name>/infer)."
  value       = "http://${var.runtime.address}:${var.port}"
  depends_on  = [module.process]
}
