# Sets the root user's password to GLK_ROOT_PASSWORD, unless it already is.
# Run by gitlab-kapsule-apply through `gitlab-rails runner`, as the git user
# (Omnibus's wrapper drops to git:git), so this file is world-readable and
# holds no secret: the value comes from the environment and is never printed.
# How GitLab's docs set a password from Rails: doc/security/reset_user_password.md
# (password and password_confirmation, then save!); valid_password? is
# Devise's check of a clear-text password against the stored hash.
password = ENV.fetch('GLK_ROOT_PASSWORD')
user = User.find_by_username!('root')
if user.valid_password?(password)
  puts 'root password: unchanged'
else
  user.password = password
  user.password_confirmation = password
  user.password_automatically_set = false
  user.save!
  puts 'root password: set'
end
