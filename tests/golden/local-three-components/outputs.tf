
output "storage" {
  description = "Outputs of storage (store)"
  value = {
    access_key = module.storage.access_key
    bucket     = module.storage.bucket
    endpoint   = module.storage.endpoint
    region     = module.storage.region
    secret_key = module.storage.secret_key
  }
  sensitive = true
}

output "tracking" {
  description = "Outputs of tracking (tracker)"
  value = {
    url = module.tracking.url
  }
}

output "serving" {
  description = "Outputs of serving (server)"
  value = {
    url = module.serving.url
  }
}
