# Creates the root user's automation token with the value the program chose,
# so the program can use GitLab's API without anyone copying a token by hand.
# Run by bootstrap.sh through `gitlab-rails runner`, as the git user (Omnibus's
# wrapper drops to git:git); the value comes from the environment.
name = 'gitlab-kapsule automation'
user = User.find_by_username!('root')
user.personal_access_tokens.where(name: name).find_each(&:revoke!)
token = user.personal_access_tokens.new(
  name: name,
  scopes: ['api'],
  # GitLab refuses tokens without an expiry; a year is its longest.
  expires_at: 364.days.from_now
)
token.set_token(ENV.fetch('GITLAB_ADMIN_TOKEN'))
token.save!
