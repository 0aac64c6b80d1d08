output "inference_url" {
  description = "MLServer base URL (V2 inference protocol: /v2/models/<model_name>/infer)."
  value       = "http://127.0.0.1:${var.port}"
  depends_on  = [module.process]
}
