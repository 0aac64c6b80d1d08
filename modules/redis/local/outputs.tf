output "url" {
  description = "Redis URL, redis://:password@address:port/0."
  # urlencode() writes a space as "+", which URL parsers read as "+" in the userinfo: use %20
  value      = "redis://:${replace(urlencode(var.password), "+", "%20")}@${var.runtime.address}:${var.port}/0"
  sensitive  = true
  depends_on = [module.process]
}
