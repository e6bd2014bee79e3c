"""The default digital-leadership skills taxonomy, on a seven-level (SFIA-style) scale.

Level 1 follows, 2 assists, 3 applies, 4 enables, 5 ensures and advises, 6 initiates and
influences, 7 sets strategy.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MIN_LEVEL = 1
MAX_LEVEL = 7

# Each level in plain words, as participants assess themselves. The DDaT capability framework's
# four skill levels sit on this scale as awareness 2, working 3, practitioner 5, expert 6
# (docs/matching.md, "Taxonomies").
LEVEL_DESCRIPTIONS: dict[int, str] = {
    1: "Follows: new to it; learning the basics with close guidance.",
    2: "Assists: knows the ideas and helps others with it under direction (DDaT: awareness).",
    3: "Applies: does it day to day, asking for guidance on harder cases (DDaT: working).",
    4: "Enables: does it on their own and guides others in it.",
    5: "Ensures and advises: decides the approach and advises others (DDaT: practitioner).",
    6: "Initiates and influences: leads it across an organisation; a recognised expert"
    " (DDaT: expert).",
    7: "Sets strategy: sets its direction across organisations, regionally or nationally.",
}


class Skill(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    name: str
    description: str = ""


class Taxonomy(BaseModel):
    """A named set of skills, looked up by code."""

    model_config = ConfigDict(frozen=True)

    name: str
    skills: tuple[Skill, ...]

    def codes(self) -> frozenset[str]:
        return frozenset(skill.code for skill in self.skills)

    def get(self, code: str) -> Skill:
        for skill in self.skills:
            if skill.code == code:
                return skill
        raise KeyError(code)

    def name_of(self, code: str) -> str:
        try:
            return self.get(code).name
        except KeyError:
            return code


DEFAULT_TAXONOMY = Taxonomy(
    name="Bridgework digital leadership",
    skills=(
        Skill(
            code="information-strategy",
            name="Information strategy",
            description="Setting a digital and information strategy that serves clinical care.",
        ),
        Skill(
            code="clinical-engagement",
            name="Clinical engagement",
            description="Bringing clinicians into the design and adoption of digital services.",
        ),
        Skill(
            code="change-management",
            name="Change management",
            description="Leading people and services through digital change.",
        ),
        Skill(
            code="software-delivery",
            name="Software delivery",
            description="Agile delivery, product management and working with suppliers' teams.",
        ),
        Skill(
            code="data-analytics",
            name="Data and analytics",
            description="Using data for care, planning and population health.",
        ),
        Skill(
            code="cyber-security",
            name="Cyber security",
            description="Protecting systems and data; DSPT and incident response.",
        ),
        Skill(
            code="procurement",
            name="Procurement and commercial",
            description="Buying and managing digital contracts and frameworks.",
        ),
        Skill(
            code="board-influence",
            name="Board influence",
            description="Making the case for digital at board level and holding its attention.",
        ),
        Skill(
            code="clinical-safety",
            name="Clinical safety",
            description="DCB0129/DCB0160 clinical risk management of health IT.",
        ),
        Skill(
            code="interoperability",
            name="Interoperability",
            description="Standards (FHIR, HL7, SNOMED CT) and integrating care records.",
        ),
        Skill(
            code="infrastructure",
            name="Infrastructure and cloud",
            description="Networks, hosting, cloud and end-user computing.",
        ),
        Skill(
            code="information-governance",
            name="Information governance",
            description="Data protection, sharing agreements and Caldicott principles.",
        ),
        Skill(
            code="user-research",
            name="User research and design",
            description="Understanding patients' and staff's needs; service design.",
        ),
        Skill(
            code="financial-management",
            name="Financial management",
            description="Business cases, budgets and benefits realisation.",
        ),
        Skill(
            code="behavioural-leadership",
            name="Behavioural leadership",
            description="Coaching, building teams and leading through influence.",
        ),
        Skill(
            code="partnership-working",
            name="Partnership working",
            description="Working across trusts, ICBs, social care and suppliers.",
        ),
    ),
)
