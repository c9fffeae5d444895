# The part of GitLab's Rails app the host scripts' Ruby uses, over the
# stand-in's database (/var/opt/gitlab/standin-db.json, git 0600, written by
# the stand-in reconfigure). What each mimics:
#   User.find_by_username!  ActiveRecord's find_by! (raises when absent)
#   User#valid_password?    Devise database_authenticatable (here: SHA256 of the password)
#   User#password=, #password_confirmation=, #save!  save! fails when they differ
#   PersonalAccessToken.find_by_token  GitLab's TokenAuthenticatable with
#                           digest: true: looks the SHA256 digest up
#                           (lib/authn/token_field/digest.rb)
#   #set_token, #revoke!, #revoked?, #update!, #save!, scopes, expires_at, name
#   user.personal_access_tokens.new / .where(name:).find_each
#   Gitlab::BackgroundMigration.remaining, ...::BatchedMigration.queued.count (below)
require 'json'
require 'date'
require 'digest'

module FakeDB
  PATH = '/var/opt/gitlab/standin-db.json'
  def self.data
    @data ||= JSON.parse(File.read(PATH))
  end

  def self.save
    File.write(PATH + '.tmp', JSON.pretty_generate(data))
    File.chmod(0o600, PATH + '.tmp')
    File.rename(PATH + '.tmp', PATH)
  end
end

class RecordInvalid < StandardError; end

class PersonalAccessToken
  attr_accessor :row

  def initialize(row)
    @row = row
  end

  def self.find_by_token(value)
    digest = Digest::SHA256.hexdigest(value)
    row = FakeDB.data['tokens'].find { |t| t['token_digest'] == digest }
    row && new(row)
  end

  def id = row['id']
  def user_id = row['user_id']
  def name = row['name']
  def scopes = row['scopes']
  def revoked? = row['revoked'] == true
  def expires_at = row['expires_at'] && Date.iso8601(row['expires_at'])

  def set_token(value)
    row['token_digest'] = Digest::SHA256.hexdigest(value)
  end

  def revoke!
    row['revoked'] = true
    FakeDB.save
  end

  def update!(attrs)
    attrs.each { |k, v| row[k.to_s] = v.is_a?(Date) ? v.iso8601 : v }
    save!
  end

  def save!
    raise RecordInvalid, 'Expiration date must be set' unless row['expires_at']
    raise RecordInvalid, 'Scopes must be set' if Array(row['scopes']).empty?
    raise RecordInvalid, 'Token must be set' unless row['token_digest']

    unless row['id']
      row['id'] = (FakeDB.data['tokens'].map { |t| t['id'] }.max || 0) + 1
      FakeDB.data['tokens'] << row
    end
    FakeDB.save
  end
end

class TokenRelation
  def initialize(user, filter = {})
    @user = user
    @filter = filter
  end

  def new(name:, scopes:, expires_at:)
    PersonalAccessToken.new('user_id' => @user.id, 'name' => name, 'scopes' => scopes,
                            'expires_at' => expires_at.iso8601, 'revoked' => false)
  end

  def where(filter)
    TokenRelation.new(@user, filter)
  end

  def find_each(&block)
    rows = FakeDB.data['tokens'].select do |t|
      t['user_id'] == @user.id && @filter.all? { |k, v| Array(v).include?(t[k.to_s]) }
    end
    rows.map { |r| PersonalAccessToken.new(r) }.each(&block)
  end
end

class User
  attr_accessor :password, :password_confirmation, :password_automatically_set

  def initialize(row)
    @row = row
  end

  def self.find_by_username!(name)
    row = FakeDB.data['users'].find { |u| u['username'] == name }
    raise "ActiveRecord::RecordNotFound: Couldn't find User with username #{name}" unless row

    new(row)
  end

  def id = @row['id']

  def valid_password?(value)
    @row['password_digest'] == Digest::SHA256.hexdigest(value)
  end

  def personal_access_tokens
    TokenRelation.new(self)
  end

  def save!
    raise RecordInvalid, "Password confirmation doesn't match Password" if password != password_confirmation

    @row['password_digest'] = Digest::SHA256.hexdigest(password) if password
    FakeDB.save
  end
end

# doc/update/background_migrations.md's two counts. The stand-in database's
# "pending_migrations" (set by a test) are batched migrations that finish one
# per check, as they progress while the upgrade waits.
# GitLab 18.4 and later have no Gitlab::BackgroundMigration.remaining
# (gitlab-org/gitlab#573394): the module is there, the method is not.
module Gitlab
  module BackgroundMigration
  end

  module Database
    module BackgroundMigration
      class BatchedMigration
        Queued = Struct.new(:count)

        def self.queued
          n = FakeDB.data['pending_migrations'].to_i
          if n.positive?
            FakeDB.data['pending_migrations'] = n - 1
            FakeDB.save
          end
          Queued.new(n)
        end

        # with_status(:failed | :finalizing), the model's state scope: the
        # stand-in database's "failed_migrations" are failed ones, named
        # like the model's job_class_name and table_name.
        Failed = Struct.new(:job_class_name, :table_name)
        def self.with_status(status)
          return [] unless status == :failed

          (FakeDB.data['failed_migrations'] || []).map { |m| Failed.new(m['job'], m['table']) }
        end
      end
    end
  end
end
