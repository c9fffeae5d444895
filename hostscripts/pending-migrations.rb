# Prints how many background migrations GitLab still has to run, the check
# GitLab's docs ask for before every upgrade (doc/update/background_migrations.md,
# "Check for pending background migrations", Linux package): the
# non-batched ones plus the queued batched ones. Run by gitlab-kapsule-apply
# through `gitlab-rails runner` as the git user; it holds no secret.
# Gitlab::BackgroundMigration.remaining, the non-batched count, is gone from
# GitLab 18.4 on (gitlab-org/gitlab#573394: "undefined method `remaining'"
# after 18.2 to 18.4), where every background migration is batched.
remaining = Gitlab::BackgroundMigration.respond_to?(:remaining) ? Gitlab::BackgroundMigration.remaining : 0
# Batched migrations: `queued` is active and paused only
# (lib/gitlab/database/background_migration/batched_migration.rb, scope
# :queued); finalizing ones are not done either, and failed ones never will
# be: GitLab's docs want every one finished before an upgrade, and an upgrade
# over a failed one stops in the package's reconfigure.
batched = Gitlab::Database::BackgroundMigration::BatchedMigration
queued = batched.queued.count + batched.with_status(:finalizing).count
failed = batched.with_status(:failed).map { |m| "#{m.job_class_name} on #{m.table_name}" }
puts "pending background migrations: #{remaining + queued}"
puts "failed background migrations: #{failed.size}#{failed.empty? ? '' : " (#{failed.join(', ')})"}"
