# Ensures the root user's automation token: a personal access token named
# GLK_TOKEN_NAME whose value is GLK_ADMIN_TOKEN, scope api, expiring on
# GLK_ADMIN_TOKEN_EXPIRES_AT (YYYY-MM-DD); every other token of that name
# (and of the name cloudinit's create-admin-token.rb used) is revoked, so a
# rotation leaves one valid automation token. Run through `gitlab-rails
# runner` as the git user: this file holds no secret, the value comes from
# the environment and is never printed.
#
# GitLab keeps only a digest of a personal access token
# (app/models/personal_access_token.rb: add_authentication_token_field
# :token, digest: true; lib/authn/token_field/digest.rb: SHA256), so a token
# is found by its value with find_by_token, and set_token stores the digest
# of a value we chose, as create-admin-token.rb did.
value = ENV.fetch('GLK_ADMIN_TOKEN')
name = ENV.fetch('GLK_TOKEN_NAME')
names = [name, ENV.fetch('GLK_LEGACY_TOKEN_NAME', name)].uniq
expires_at = Date.iso8601(ENV.fetch('GLK_ADMIN_TOKEN_EXPIRES_AT'))
scopes = ['api']

user = User.find_by_username!('root')
token = PersonalAccessToken.find_by_token(value)
if token && token.user_id != user.id
  abort 'admin token: this value belongs to another user; choose a new one'
end
if token && token.revoked?
  abort 'admin token: this value was revoked; GitLab cannot reinstate it, choose a new one'
end

if token.nil?
  token = user.personal_access_tokens.new(name: name, scopes: scopes, expires_at: expires_at)
  token.set_token(value)
  token.save!
  puts "admin token: created, expires #{expires_at.iso8601}"
elsif token.expires_at.to_date != expires_at || token.scopes.map(&:to_s).sort != scopes || token.name != name
  token.update!(name: name, scopes: scopes, expires_at: expires_at)
  puts "admin token: updated, expires #{expires_at.iso8601}"
else
  puts "admin token: unchanged, expires #{expires_at.iso8601}"
end

revoked = 0
user.personal_access_tokens.where(name: names).find_each do |other|
  next if other.id == token.id || other.revoked?

  other.revoke!
  revoked += 1
end
puts "admin token: revoked #{revoked} older automation token(s)" if revoked.positive?
