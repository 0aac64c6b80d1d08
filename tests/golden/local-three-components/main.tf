
# storage: Test component store
module "storage" {
  source = "./modules/store"

  stack      = var.stack_name
  instance   = "storage"
  runtime    = var.runtime["storage"]
  port       = var.storage__port
  access_key = var.storage__access_key
  secret_key = var.storage__secret_key
}

# tracking: Test component tracker
module "tracking" {
  source = "./modules/tracker"

  stack    = var.stack_name
  instance = "tracking"
  runtime  = var.runtime["tracking"]
  port     = var.tracking__port
  workers  = var.tracking__workers
  api_key  = var.tracking__api_key
  greeting = var.tracking__greeting

  object_store_endpoint   = module.storage.endpoint
  object_store_bucket     = module.storage.bucket
  object_store_region     = module.storage.region
  object_store_access_key = module.storage.access_key
  object_store_secret_key = module.storage.secret_key
}

# serving: Test component server
module "serving" {
  source = "./modules/server"

  stack    = var.stack_name
  instance = "serving"
  runtime  = var.runtime["serving"]
  port     = var.serving__port
  replicas = var.serving__replicas
  mode     = var.serving__mode

  model_registry_url = module.tracking.url

  depends_on = [module.tracking]
}
