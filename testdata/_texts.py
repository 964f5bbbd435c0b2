"""Prose of the sample documents that ``generate.py`` lays out.

All names, places, amounts and telephone numbers are made up. The Dutch texts
stay Dutch because they exercise Dutch OCR and Dutch word forms.
"""

# Dutch municipal annual report, laid out by generate.build_dutch_report.

DUTCH_TITLE = "Jaarverslag 2025"
DUTCH_SUBTITLE = "Gemeente Lindeveld"
DUTCH_INTRO = (
    "Verantwoording over het begrotingsjaar 2025, aangeboden aan de gemeenteraad "
    "door het college van burgemeester en wethouders."
)

DUTCH_TABLE_CAPTION = "Tabel 1. Lasten per programma (bedragen x € 1.000)"
DUTCH_TABLE = [
    ["Programma", "Begroting 2025", "Realisatie 2025", "Verschil"],
    ["Bestuur en dienstverlening", "8.420", "8.115", "305"],
    ["Veiligheid", "3.960", "4.080", "-120"],
    ["Verkeer en openbare ruimte", "12.750", "12.310", "440"],
    ["Onderwijs", "6.880", "6.925", "-45"],
    ["Sport, cultuur en recreatie", "9.540", "9.610", "-70"],
    ["Sociaal domein", "41.300", "39.870", "1.430"],
    ["Wonen en ruimtelijke ordening", "7.215", "6.980", "235"],
    ["Totaal", "90.065", "87.890", "2.175"],
]

# Each section is (heading, paragraphs). The string "TABLE" marks where the
# table goes in the section's paragraphs.
DUTCH_SECTIONS = [
    (
        "1. Voorwoord",
        [
            "Voor u ligt het jaarverslag van de gemeente Lindeveld over 2025. Het was een "
            "jaar waarin we veel hebben bereikt, maar waarin ook duidelijk werd hoe "
            "afhankelijk we zijn van ontwikkelingen buiten onze gemeentegrenzen. De "
            "stijgende bouwkosten, de krappe arbeidsmarkt en de onzekerheid over de "
            "rijksbijdragen vroegen om scherpe keuzes.",
            "Toch zijn we erin geslaagd om de belangrijkste ambities uit het "
            "coalitieakkoord overeind te houden. In de wijk De Hoven zijn de eerste 140 "
            "sociale huurwoningen opgeleverd, het nieuwe zwembad aan de Parklaan is "
            "volgens planning in gebruik genomen en het aantal inwoners dat gebruikmaakt "
            "van de digitale balie is opnieuw gegroeid.",
            "Wij danken alle medewerkers, vrijwilligers en maatschappelijke partners die "
            "zich het afgelopen jaar voor Lindeveld hebben ingezet. Zonder hun inzet "
            "waren deze resultaten niet mogelijk geweest.",
        ],
    ),
    (
        "2. Financiële positie",
        [
            "De jaarrekening 2025 sluit met een positief resultaat van € 2,4 miljoen. Dat "
            "is € 1,1 miljoen meer dan bij de tweede bestuursrapportage werd verwacht. Het "
            "verschil wordt vooral verklaard door lagere uitgaven in het sociaal domein en "
            "door hogere opbrengsten uit bouwleges. Een deel van het overschot is "
            "incidenteel van aard. Het college stelt daarom voor om € 1,5 miljoen toe te "
            "voegen aan de algemene reserve en het restant te bestemmen voor de uitvoering "
            "van het nieuwe armoedebeleid.",
            "Het weerstandsvermogen van de gemeente blijft ruim voldoende. De ratio "
            "weerstandsvermogen komt uit op 1,8, terwijl de raad een minimum van 1,2 heeft "
            "vastgesteld. De schuldquote daalde van 74 procent naar 69 procent, omdat er in "
            "2025 geen nieuwe langlopende leningen zijn aangetrokken.",
            "TABLE",
            "Het sociaal domein laat de grootste onderbesteding zien. De uitgaven voor "
            "jeugdhulp bleven achter bij de raming, omdat de nieuwe wijkteams vaker zelf "
            "lichte ondersteuning boden en minder kinderen werden doorverwezen naar "
            "specialistische zorg. Bij het programma Veiligheid vielen de kosten hoger uit "
            "door de bijdrage aan de veiligheidsregio, die in de loop van het jaar werd "
            "verhoogd.",
        ],
    ),
    (
        "3. Wonen en ruimtelijke ontwikkeling",
        [
            "De woningbouwopgave blijft een van de grootste uitdagingen voor Lindeveld. In "
            "2025 zijn in totaal 312 woningen opgeleverd, waarvan 140 sociale "
            "huurwoningen in De Hoven en 96 middenhuurwoningen op het voormalige "
            "fabrieksterrein aan de Kanaalweg. Daarmee ligt de gemeente op koers om de "
            "afspraak uit de regionale woondeal van 1.500 nieuwe woningen vóór 2030 te "
            "halen.",
            "De vergunningverlening verliep sneller dan in voorgaande jaren. Gemiddeld "
            "werd een aanvraag voor een omgevingsvergunning binnen zes weken afgehandeld. "
            "Sinds de invoering van de Omgevingswet werken we met vaste omgevingstafels, "
            "waarin initiatiefnemers, omwonenden en adviseurs vroeg in het proces met "
            "elkaar om tafel gaan.",
            "Tegelijk merken we dat de doorstroming op de woningmarkt beperkt blijft. Veel "
            "ouderen willen kleiner wonen, maar vinden geen passende woning in hun eigen "
            "buurt. Het college is daarom samen met woningcorporatie Thuis in Lindeveld "
            "een proef gestart met levensloopbestendige appartementen in het centrum.",
        ],
    ),
    (
        "4. Sociaal domein",
        [
            "In het sociaal domein lag de nadruk op preventie en vroegsignalering. De "
            "vier wijkteams voerden in 2025 ruim 3.200 keukentafelgesprekken. Bij bijna "
            "de helft van die gesprekken kon de hulpvraag worden opgelost met "
            "ondersteuning uit het eigen netwerk of een algemene voorziening.",
            "De schuldhulpverlening werd uitgebreid met een aanpak voor vroegsignalering. "
            "Woningcorporaties, energieleveranciers en zorgverzekeraars melden "
            "betalingsachterstanden nu sneller bij de gemeente, zodat een medewerker "
            "binnen twee weken contact opneemt. Het aantal huisuitzettingen wegens "
            "huurschuld daalde van elf in 2024 naar drie in 2025.",
            "Zorgen zijn er over de wachttijden in de jeugd-ggz. Hoewel Lindeveld hier "
            "slechts beperkt invloed op heeft, trekken we samen met de regiogemeenten op "
            "in de gesprekken met zorgaanbieders en het zorgkantoor.",
        ],
    ),
    (
        "5. Duurzaamheid en klimaatadaptatie",
        [
            "Het afgelopen jaar zijn 1.150 woningen van het aardgas losgekoppeld, vooral "
            "in de wijk Noorderkwartier. Daar is een warmtenet aangelegd dat gevoed wordt "
            "door restwarmte van de nabijgelegen waterzuivering. Daarnaast ontvingen 620 "
            "huishoudens een energiecoach aan huis, die advies gaf over isolatie en zuinig "
            "energiegebruik.",
            "Om wateroverlast bij hevige regenval te beperken, zijn in drie straten in het "
            "centrum de stoepen en parkeerplaatsen vervangen door waterdoorlatende "
            "bestrating. Op het schoolplein van basisschool De Regenboog is een groene "
            "speelplaats aangelegd die tot 80 kubieke meter regenwater kan vasthouden.",
        ],
    ),
    (
        "6. Dienstverlening en digitalisering",
        [
            "Steeds meer inwoners regelen hun zaken online. Het aandeel digitale "
            "aanvragen voor paspoorten, rijbewijzen en uittreksels steeg tot 71 procent. "
            "Voor inwoners die minder digitaal vaardig zijn, blijft het servicepunt in het "
            "gemeentehuis vijf dagen per week geopend. In de bibliotheek kunnen zij "
            "bovendien terecht bij het Informatiepunt Digitale Overheid.",
            "De klanttevredenheid bleef stabiel op een gemiddeld rapportcijfer van 7,6. "
            "Inwoners waarderen vooral de vriendelijkheid van de medewerkers, maar vinden "
            "dat de telefonische bereikbaarheid beter kan. In 2026 breiden we daarom het "
            "team van het klantcontactcentrum uit met twee medewerkers.",
        ],
    ),
    (
        "7. Vooruitblik",
        [
            "Het jaar 2026 staat in het teken van de gemeenteraadsverkiezingen en de "
            "voorbereiding op de nieuwe verdeling van het gemeentefonds. We verwachten dat "
            "de financiële ruimte de komende jaren kleiner wordt. Het college zal de raad "
            "na de zomer een voorstel doen voor een herijking van de meerjarenbegroting, "
            "waarin we opnieuw kijken naar de prioriteiten en de hoogte van de lokale "
            "lasten.",
            "Lindeveld, mei 2026. Het college van burgemeester en wethouders.",
        ],
    ),
]

# English two-column article, laid out by generate.build_english_two_column.

ENGLISH_TITLE = "Cooling the City: How Street Trees Tame Urban Heat"
ENGLISH_BYLINE = "By Laura Mendes, Environment Correspondent"
ENGLISH_TABLE_CAPTION = "Table 1. Midday surface temperature by street type"
ENGLISH_TABLE = [
    ["Street type", "Canopy", "Surface"],
    ["Bare asphalt", "0%", "52 °C"],
    ["Young trees", "15%", "44 °C"],
    ["Mature trees", "45%", "34 °C"],
    ["Park edge", "70%", "29 °C"],
]
ENGLISH_SECTIONS = [
    (
        None,
        [
            "On a still afternoon in late July, the pavement outside a bus stop on Mill "
            "Road can be hot enough to blister bare feet. Two streets away, under a row "
            "of plane trees planted a century ago, the air feels noticeably cooler and "
            "people linger on the benches.",
            "That difference is not an accident of memory. Cities absorb sunlight in "
            "their roads, roofs and walls and release it slowly after dark, a pattern "
            "known as the urban heat island. On the hottest days, central districts can "
            "stay several degrees warmer than the surrounding countryside well into the "
            "night.",
        ],
    ),
    (
        "Measuring the effect",
        [
            "Last summer, a team from the municipal climate office fitted sensors to "
            "lamp posts on forty streets and recorded surface temperatures every ten "
            "minutes. The results were striking. Streets with a dense, mature canopy "
            "were on average eighteen degrees cooler at ground level than streets with "
            "no trees at all.",
            "TABLE",
            "Shade explains most of the gap, but not all of it. Leaves also release "
            "water vapour through evapotranspiration, which draws heat from the "
            "surrounding air. A single large tree can move hundreds of litres of water "
            "on a hot day.",
        ],
    ),
    (
        "Costs and care",
        [
            "Trees are not free. Planting a street tree with a proper root vault costs "
            "the city about 2,800 euros, and young trees need regular watering during "
            "the first three summers. Without that care, up to a third of new plantings "
            "fail before they are established.",
            "Roots can also lift paving and compete with cables and pipes for space "
            "under the pavement. Engineers now reserve underground corridors for trees "
            "when streets are rebuilt, instead of fitting them into whatever soil is "
            "left over.",
        ],
    ),
    (
        "What comes next",
        [
            "The council has set a target of thirty percent canopy cover in every "
            "neighbourhood by 2040. Residents can nominate streets for planting through "
            "the city website, and the climate office will publish its sensor data so "
            "that anyone can follow the results.",
            "For the people waiting at the bus stop on Mill Road, the first saplings "
            "arrive this autumn. It will take years before they cast much shade, but "
            "the planners are patient. As one of them put it, the best time to plant a "
            "tree was twenty years ago, and the second best time is now.",
        ],
    ),
]

# Encrypted memo, laid out by generate.build_encrypted.

MEMO_TITLE = "Minutes of the Supervisory Board"
MEMO_LINES = [
    "Meeting of 12 February 2026, held at the head office in Lindeveld.",
    "Present: A. Visser (chair), R. Okafor, M. Jansen and T. Lindqvist.",
    "",
    "1. The board approved the revised budget for the harbour renovation.",
    "2. The audit committee will review the pension fund contract in April.",
    "3. The next meeting is scheduled for 9 April 2026.",
]

# Scanned letters, rendered as raster images by generate.build_scanned.
# Each page is a list of lines. The generator wraps no text, so every line
# here is one line on the page, and an empty string is a blank line.

SCANNED_DUTCH_PAGE = [
    ("bold", "Gemeente Lindeveld"),
    ("regular", "Afdeling Vergunningen en Handhaving"),
    ("regular", "Postbus 120, 7400 AC Lindeveld"),
    ("regular", ""),
    ("regular", "Lindeveld, 5 maart 2026"),
    ("regular", ""),
    ("bold", "Onderwerp: ontvangstbevestiging van uw aanvraag"),
    ("regular", ""),
    ("regular", "Geachte heer De Vries,"),
    ("regular", ""),
    ("regular", "Op 3 maart 2026 hebben wij uw aanvraag voor een omgevingsvergunning"),
    ("regular", "ontvangen voor het plaatsen van een dakkapel aan de achterzijde van"),
    ("regular", "uw woning aan de Lindelaan 14. Uw aanvraag is geregistreerd onder"),
    ("regular", "zaaknummer OV-2026-0417."),
    ("regular", ""),
    ("regular", "Wij beoordelen uw aanvraag binnen acht weken. Als wij aanvullende"),
    ("regular", "gegevens nodig hebben, nemen wij contact met u op. De beslistermijn"),
    ("regular", "wordt dan opgeschort totdat wij de ontbrekende stukken hebben"),
    ("regular", "ontvangen."),
    ("regular", ""),
    ("regular", "Heeft u vragen over uw aanvraag? Neem dan contact op met het"),
    ("regular", "omgevingsloket via telefoonnummer 14 0570. Vermeld daarbij altijd"),
    ("regular", "het zaaknummer."),
    ("regular", ""),
    ("regular", "Met vriendelijke groet,"),
    ("regular", "namens het college van burgemeester en wethouders,"),
    ("regular", ""),
    ("regular", "mevrouw J. Bakker"),
    ("regular", "teamleider Vergunningen"),
]

SCANNED_ENGLISH_PAGE = [
    ("bold", "Northbridge Water Company"),
    ("regular", "Customer Services, 18 Harbour Road, Northbridge"),
    ("regular", ""),
    ("regular", "2 March 2026"),
    ("regular", ""),
    ("bold", "Notice of planned maintenance"),
    ("regular", ""),
    ("regular", "Dear customer,"),
    ("regular", ""),
    ("regular", "We will be replacing the water main in your street between 9 and"),
    ("regular", "20 March 2026. During this work your water supply may be interrupted"),
    ("regular", "for up to four hours on one of these days. We will deliver a card to"),
    ("regular", "your door at least two days before any interruption."),
    ("regular", ""),
    ("regular", "When the supply returns, the water may look cloudy for a short time."),
    ("regular", "This is caused by tiny air bubbles and is not harmful. Run the cold"),
    ("regular", "kitchen tap until the water runs clear."),
    ("regular", ""),
    ("regular", "If you rely on water for medical reasons, please call our priority"),
    ("regular", "services team so that we can arrange bottled water for you."),
    ("regular", ""),
    ("regular", "Yours faithfully,"),
    ("regular", ""),
    ("regular", "Daniel Hughes"),
    ("regular", "Network Operations Manager"),
]
