output "url" {
  description = "Redis URL, redis://:password@127.0.0.1:port/0."
  # urlencode() writes a space as "+", which URL parsers read as "+" in the userinfo: use %20
  value      = "redis://:${replace(urlencode(var.password), "+", "%20")}@127.0.0.1:${var.port}/0"
  sensitive  = true
  depends_on = [module.process]
}
