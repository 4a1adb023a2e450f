//! What hallpass's SCIM server supports, as data: the attributes of the core User and Group
//! schemas and the enterprise User extension (RFC 7643 §4, §8.7), and the discovery documents
//! built from them (`/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`). Filters, PATCH
//! paths and value checks all look attributes up here, so what is advertised is what is accepted.

use hallpass_core::scim::ScimKind;
use serde_json::{Value, json};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SERVICE_PROVIDER_CONFIG: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    DateTime,
    Reference,
    Complex,
}

impl AttrType {
    fn name(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::DateTime => "dateTime",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
}

impl Mutability {
    fn name(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
        }
    }
}

/// One attribute definition.
#[derive(Debug)]
pub struct Attr {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi: bool,
    pub case_exact: bool,
    pub required: bool,
    pub mutability: Mutability,
    pub description: &'static str,
    pub sub: &'static [Attr],
}

const fn attr(name: &'static str, ty: AttrType, description: &'static str) -> Attr {
    Attr {
        name,
        ty,
        multi: false,
        case_exact: false,
        required: false,
        mutability: Mutability::ReadWrite,
        description,
        sub: &[],
    }
}

const fn s(name: &'static str, description: &'static str) -> Attr {
    attr(name, AttrType::String, description)
}

const fn complex(
    name: &'static str,
    multi: bool,
    description: &'static str,
    sub: &'static [Attr],
) -> Attr {
    Attr {
        multi,
        sub,
        ..attr(name, AttrType::Complex, description)
    }
}

const fn read_only(a: Attr) -> Attr {
    Attr {
        mutability: Mutability::ReadOnly,
        ..a
    }
}

const fn immutable(a: Attr) -> Attr {
    Attr {
        mutability: Mutability::Immutable,
        ..a
    }
}

const fn exact(a: Attr) -> Attr {
    Attr {
        case_exact: true,
        ..a
    }
}

const fn required(a: Attr) -> Attr {
    Attr {
        required: true,
        ..a
    }
}

/// The sub-attributes of `emails`, `phoneNumbers` and the like.
const TYPED_VALUE: &[Attr] = &[
    s("value", "The value: an address, a number."),
    s("display", "A human-readable form of the value."),
    s("type", "A label such as work, home or mobile."),
    attr(
        "primary",
        AttrType::Boolean,
        "Whether this is the preferred value.",
    ),
];

/// `id`, `externalId` and `meta`: on every resource, in no schema (RFC 7643 §3.1).
pub const COMMON: &[Attr] = &[
    read_only(exact(s("id", "The server's identifier of the resource."))),
    exact(s("externalId", "The client's identifier of the resource.")),
    read_only(complex(
        "meta",
        false,
        "Resource metadata.",
        &[
            read_only(exact(s("resourceType", "User or Group."))),
            read_only(attr(
                "created",
                AttrType::DateTime,
                "When the resource was added.",
            )),
            read_only(attr(
                "lastModified",
                AttrType::DateTime,
                "When the resource last changed.",
            )),
            read_only(exact(attr(
                "location",
                AttrType::Reference,
                "The resource's URI.",
            ))),
            read_only(exact(s("version", "The resource's version (weak ETag)."))),
        ],
    )),
];

pub const USER_ATTRS: &[Attr] = &[
    required(s(
        "userName",
        "The login; matched against the OS user name on first contact.",
    )),
    complex(
        "name",
        false,
        "The person's name.",
        &[
            s("formatted", "The full name, as displayed."),
            s("familyName", "The family name."),
            s("givenName", "The given name."),
            s("middleName", "Middle names."),
            s("honorificPrefix", "e.g. Ms."),
            s("honorificSuffix", "e.g. III."),
        ],
    ),
    s("displayName", "The name shown to people."),
    s("nickName", "A casual name."),
    attr(
        "profileUrl",
        AttrType::Reference,
        "A page about the person.",
    ),
    s("title", "The job title."),
    s("userType", "e.g. Employee, Contractor."),
    s("preferredLanguage", "e.g. en-GB."),
    s("locale", "e.g. en-GB."),
    s("timezone", "e.g. Europe/London."),
    attr(
        "active",
        AttrType::Boolean,
        "false deactivates the person in hallpass: pending requests are cancelled and access revoked.",
    ),
    complex(
        "emails",
        true,
        "E-mail addresses; the primary (else the first) is the hallpass e-mail.",
        TYPED_VALUE,
    ),
    complex(
        "phoneNumbers",
        true,
        "Phone numbers; the primary (else the first) is the hallpass phone.",
        TYPED_VALUE,
    ),
    complex(
        "addresses",
        true,
        "Postal addresses.",
        &[
            s("formatted", "The full address."),
            s("streetAddress", "Street."),
            s("locality", "City."),
            s("region", "Region."),
            s("postalCode", "Postal code."),
            s("country", "Country."),
            s("type", "work, home, other."),
            attr("primary", AttrType::Boolean, "The preferred address."),
        ],
    ),
    read_only(complex(
        "groups",
        true,
        "The groups the person is in (set through the Groups endpoint).",
        &[
            read_only(s("value", "The group's id.")),
            read_only(attr("$ref", AttrType::Reference, "The group's URI.")),
            read_only(s("display", "The group's name.")),
            read_only(s("type", "direct.")),
        ],
    )),
];

pub const ENTERPRISE_ATTRS: &[Attr] = &[
    s("employeeNumber", "The employee number."),
    s("costCenter", "The cost center."),
    s("organization", "The organization."),
    s("division", "The division."),
    s("department", "The department."),
    complex(
        "manager",
        false,
        "The person's manager: `value` is the manager's SCIM user id; it sets the hallpass manager.",
        &[
            s("value", "The manager's SCIM id."),
            attr("$ref", AttrType::Reference, "The manager's URI."),
            read_only(s("displayName", "The manager's name.")),
        ],
    ),
];

pub const GROUP_ATTRS: &[Attr] = &[
    required(s(
        "displayName",
        "The group's name; the hallpass group name is derived from it (lowercase, dashes).",
    )),
    complex(
        "members",
        true,
        "The group's members: `value` is a SCIM user id.",
        &[
            immutable(s("value", "The member's SCIM id.")),
            immutable(attr("$ref", AttrType::Reference, "The member's URI.")),
            s("display", "The member's name."),
            immutable(s("type", "User.")),
        ],
    ),
];

/// The core schema URN of a kind.
pub fn core_urn(kind: ScimKind) -> &'static str {
    match kind {
        ScimKind::User => USER_SCHEMA,
        ScimKind::Group => GROUP_SCHEMA,
    }
}

fn core_attrs(kind: ScimKind) -> &'static [Attr] {
    match kind {
        ScimKind::User => USER_ATTRS,
        ScimKind::Group => GROUP_ATTRS,
    }
}

/// The extension schemas a kind may carry.
pub fn extensions(kind: ScimKind) -> &'static [&'static str] {
    match kind {
        ScimKind::User => &[ENTERPRISE_USER],
        ScimKind::Group => &[],
    }
}

/// The canonical spelling of a known schema URN of `kind` (core or extension).
pub fn known_urn(kind: ScimKind, urn: &str) -> Option<&'static str> {
    std::iter::once(core_urn(kind))
        .chain(extensions(kind).iter().copied())
        .find(|u| u.eq_ignore_ascii_case(urn))
}

/// The attributes of one schema of `kind`: `None` is the core schema (with the common ones).
pub fn attrs_of(kind: ScimKind, urn: Option<&str>) -> Option<Vec<&'static Attr>> {
    match urn {
        None => Some(core_attrs(kind).iter().chain(COMMON).collect()),
        Some(u) if u.eq_ignore_ascii_case(core_urn(kind)) => {
            Some(core_attrs(kind).iter().chain(COMMON).collect())
        }
        Some(u) if u.eq_ignore_ascii_case(ENTERPRISE_USER) && kind == ScimKind::User => {
            Some(ENTERPRISE_ATTRS.iter().collect())
        }
        Some(_) => None,
    }
}

/// The definition of `name` (case-insensitive) in schema `urn` of `kind`.
pub fn find(kind: ScimKind, urn: Option<&str>, name: &str) -> Option<&'static Attr> {
    attrs_of(kind, urn)?
        .into_iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

/// The sub-attribute `name` (case-insensitive) of a complex attribute.
pub fn find_sub(parent: &'static Attr, name: &str) -> Option<&'static Attr> {
    parent
        .sub
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
}

fn attr_json(a: &Attr) -> Value {
    let mut v = json!({
        "name": a.name,
        "type": a.ty.name(),
        "multiValued": a.multi,
        "description": a.description,
        "required": a.required,
        "mutability": a.mutability.name(),
        "returned": "default",
        "uniqueness": if a.name == "userName" { "server" } else { "none" },
    });
    if a.ty == AttrType::String || a.ty == AttrType::Reference {
        v["caseExact"] = json!(a.case_exact);
    }
    if a.ty == AttrType::Reference {
        v["referenceTypes"] = json!(["external", "User", "Group"]);
    }
    if !a.sub.is_empty() {
        v["subAttributes"] = a.sub.iter().map(attr_json).collect();
    }
    v
}

fn schema_doc(base: &str, id: &str, name: &str, description: &str, attrs: &[Attr]) -> Value {
    json!({
        "schemas": [SCHEMA],
        "id": id,
        "name": name,
        "description": description,
        "attributes": attrs.iter().map(attr_json).collect::<Vec<_>>(),
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{id}")},
    })
}

/// Every schema document, for `/Schemas`.
pub fn schemas(base: &str) -> Vec<Value> {
    vec![
        schema_doc(base, USER_SCHEMA, "User", "A person.", USER_ATTRS),
        schema_doc(
            base,
            ENTERPRISE_USER,
            "EnterpriseUser",
            "Enterprise User: the manager sets the hallpass manager.",
            ENTERPRISE_ATTRS,
        ),
        schema_doc(
            base,
            GROUP_SCHEMA,
            "Group",
            "A group of people.",
            GROUP_ATTRS,
        ),
    ]
}

/// Every resource type document, for `/ResourceTypes`.
pub fn resource_types(base: &str) -> Vec<Value> {
    vec![
        json!({
            "schemas": [RESOURCE_TYPE],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "People: each is a hallpass user of the identity source `scim`.",
            "schema": USER_SCHEMA,
            "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")},
        }),
        json!({
            "schemas": [RESOURCE_TYPE],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Groups: each is a hallpass group owned by the identity source `scim`.",
            "schema": GROUP_SCHEMA,
            "schemaExtensions": [],
            "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")},
        }),
    ]
}

/// `/ServiceProviderConfig`: PATCH and filters yes; bulk, ETags, sorting and password changes no;
/// a bearer token.
pub fn service_provider_config(base: &str, max_results: u32) -> Value {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://example.invalid/hallpass/scim",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": max_results},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A token made by an admin with `hallpass scim token`, sent as `Authorization: Bearer TOKEN`.",
            "primary": true,
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_case_insensitive_and_schema_aware() {
        assert_eq!(
            find(ScimKind::User, None, "USERNAME").map(|a| a.name),
            Some("userName")
        );
        assert_eq!(
            find(ScimKind::User, Some(USER_SCHEMA), "emails").map(|a| a.multi),
            Some(true)
        );
        assert!(find(ScimKind::User, None, "manager").is_none());
        let m = find(ScimKind::User, Some(ENTERPRISE_USER), "Manager").unwrap();
        assert_eq!(find_sub(m, "VALUE").map(|a| a.name), Some("value"));
        assert!(find(ScimKind::Group, Some(ENTERPRISE_USER), "manager").is_none());
        assert_eq!(
            find(ScimKind::Group, None, "id").map(|a| a.mutability),
            Some(Mutability::ReadOnly)
        );
        assert_eq!(
            known_urn(ScimKind::User, &ENTERPRISE_USER.to_uppercase()),
            Some(ENTERPRISE_USER)
        );
    }

    #[test]
    fn discovery_documents_name_every_schema() {
        let docs = schemas("http://x/scim/v2");
        let ids: Vec<_> = docs.iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [USER_SCHEMA, ENTERPRISE_USER, GROUP_SCHEMA]);
        let user = &docs[0]["attributes"];
        let emails = user
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "emails")
            .unwrap();
        assert_eq!(emails["multiValued"], true);
        assert_eq!(emails["subAttributes"][0]["name"], "value");
        let spc = service_provider_config("http://x/scim/v2", 100);
        assert_eq!(spc["filter"]["maxResults"], 100);
        assert_eq!(spc["bulk"]["supported"], false);
        assert_eq!(
            resource_types("b")[0]["schemaExtensions"][0]["schema"],
            ENTERPRISE_USER
        );
    }
}
