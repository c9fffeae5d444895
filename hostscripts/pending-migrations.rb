# Prints how many background migrations GitLab still has to run, the check
# GitLab's docs ask for before every upgrade (doc/update/background_migrations.md,
# "Check for pending background migrations", Linux package): the
# non-batched ones plus the queued batched ones. Run by gitlab-kapsule-apply
# through `gitlab-rails runner` as the git user; it holds no secret.
remaining = Gitlab::BackgroundMigration.remaining
queued = Gitlab::Database::BackgroundMigration::BatchedMigration.queued.count
puts "pending background migrations: #{remaining + queued}"
