import type { Role } from './roles.ts'
import { DomainError } from './decider.ts'
import type { Decider } from './decider.ts'

/** How a tenant's calls get provider credentials. */
export const KEY_MODES = ['gateway', 'byok_only', 'byok_with_fallback'] as const
export type KeyMode = (typeof KEY_MODES)[number]

// ---- tenant ----

export type TenantEvent =
  | { type: 'tenant.created'; data: { tenantId: string; name: string; keyMode: KeyMode } }
  | { type: 'tenant.renamed'; data: { tenantId: string; name: string } }
  | { type: 'tenant.key_mode_changed'; data: { tenantId: string; keyMode: KeyMode } }

export type TenantCommand =
  | { type: 'CreateTenant'; tenantId: string; name: string; keyMode: KeyMode }
  | { type: 'RenameTenant'; name: string }
  | { type: 'SetKeyMode'; keyMode: KeyMode }

export type TenantState = { exists: false } | { exists: true; tenantId: string; name: string; keyMode: KeyMode }

export const tenantDecider: Decider<TenantCommand, TenantEvent, TenantState> = {
  initialState: () => ({ exists: false }),
  evolve(state, event) {
    switch (event.type) {
      case 'tenant.created':
        return { exists: true, ...event.data }
      case 'tenant.renamed':
        return state.exists ? { ...state, name: event.data.name } : state
      case 'tenant.key_mode_changed':
        return state.exists ? { ...state, keyMode: event.data.keyMode } : state
    }
  },
  decide(command, state) {
    if (command.type === 'CreateTenant') {
      if (state.exists) throw new DomainError('conflict', `Tenant ${command.tenantId} exists already`)
      return [{ type: 'tenant.created', data: { tenantId: command.tenantId, name: command.name, keyMode: command.keyMode } }]
    }
    if (!state.exists) throw new DomainError('not_found', 'No such tenant')
    if (command.type === 'RenameTenant') {
      return command.name === state.name ? [] : [{ type: 'tenant.renamed', data: { tenantId: state.tenantId, name: command.name } }]
    }
    return command.keyMode === state.keyMode ? [] : [{ type: 'tenant.key_mode_changed', data: { tenantId: state.tenantId, keyMode: command.keyMode } }]
  },
}

// ---- project ----

export type ProjectEvent =
  | { type: 'project.created'; data: { tenantId: string; projectId: string; name: string } }
  | { type: 'project.archived'; data: { tenantId: string; projectId: string } }

export type ProjectCommand = { type: 'CreateProject'; tenantId: string; projectId: string; name: string } | { type: 'ArchiveProject' }

export type ProjectState = { exists: false } | { exists: true; tenantId: string; projectId: string; archived: boolean }

export const projectDecider: Decider<ProjectCommand, ProjectEvent, ProjectState> = {
  initialState: () => ({ exists: false }),
  evolve(state, event) {
    if (event.type === 'project.created') return { exists: true, tenantId: event.data.tenantId, projectId: event.data.projectId, archived: false }
    return state.exists ? { ...state, archived: true } : state
  },
  decide(command, state) {
    if (command.type === 'CreateProject') {
      if (state.exists) throw new DomainError('conflict', 'Project exists already')
      return [{ type: 'project.created', data: { tenantId: command.tenantId, projectId: command.projectId, name: command.name } }]
    }
    if (!state.exists) throw new DomainError('not_found', 'No such project')
    return state.archived ? [] : [{ type: 'project.archived', data: { tenantId: state.tenantId, projectId: state.projectId } }]
  },
}

// ---- member ----

export type MemberEvent =
  | { type: 'member.added'; data: { tenantId: string; memberId: string; email: string; role: Role } }
  | { type: 'member.role_changed'; data: { tenantId: string; memberId: string; role: Role } }
  | { type: 'member.removed'; data: { tenantId: string; memberId: string } }

export type MemberCommand =
  | { type: 'AddMember'; tenantId: string; memberId: string; email: string; role: Role }
  | { type: 'ChangeRole'; role: Role }
  | { type: 'RemoveMember' }

export type MemberState = { exists: false } | { exists: true; tenantId: string; memberId: string; role: Role; removed: boolean }

export const memberDecider: Decider<MemberCommand, MemberEvent, MemberState> = {
  initialState: () => ({ exists: false }),
  evolve(state, event) {
    switch (event.type) {
      case 'member.added':
        return { exists: true, tenantId: event.data.tenantId, memberId: event.data.memberId, role: event.data.role, removed: false }
      case 'member.role_changed':
        return state.exists ? { ...state, role: event.data.role } : state
      case 'member.removed':
        return state.exists ? { ...state, removed: true } : state
    }
  },
  decide(command, state) {
    if (command.type === 'AddMember') {
      if (state.exists && !state.removed) throw new DomainError('conflict', 'This member exists already')
      return [{ type: 'member.added', data: { tenantId: command.tenantId, memberId: command.memberId, email: command.email, role: command.role } }]
    }
    if (!state.exists || state.removed) throw new DomainError('not_found', 'No such member')
    if (command.type === 'ChangeRole') {
      return command.role === state.role ? [] : [{ type: 'member.role_changed', data: { tenantId: state.tenantId, memberId: state.memberId, role: command.role } }]
    }
    return [{ type: 'member.removed', data: { tenantId: state.tenantId, memberId: state.memberId } }]
  },
}
