use super::{Block, Media, MediaKind, Style, html_to_blocks, html_to_text, pack, split_text};

fn plain(html: &str) -> String {
    html_to_text(html, Style::Plain)
}

fn whatsapp(html: &str) -> String {
    html_to_text(html, Style::WhatsApp)
}

fn text(s: &str) -> Block {
    Block::Text(s.to_owned())
}

fn media(url: &str, kind: MediaKind) -> Block {
    Block::Media(Media { url: url.to_owned(), kind })
}

#[test]
fn pictures_phones_show_are_images_and_other_types_are_documents() {
    assert_eq!(MediaKind::of_media_type("image/PNG"), MediaKind::Image);
    assert_eq!(MediaKind::of_media_type("image/heic"), MediaKind::File);
    assert_eq!(MediaKind::of_media_type("video/mp4; codecs=avc1"), MediaKind::Video);
    assert_eq!(MediaKind::of_media_type("audio/ogg"), MediaKind::Audio);
    assert_eq!(MediaKind::of_media_type("application/pdf"), MediaKind::File);
}

#[test]
fn markdown_style_writes_double_asterisks_for_bold_and_does_not_nest_them() {
    let markdown = |html| html_to_text(html, Style::Markdown);
    assert_eq!(markdown("<b>Bold</b>, <em>it</em>, <s>gone</s> and <b>a <strong>b</strong></b>"), "**Bold**, _it_, ~~gone~~ and **a b**");
}

// ----- structure -----

#[test]
fn paragraphs_are_separated_by_exactly_one_blank_line() {
    assert_eq!(plain("<p>Hello</p><p>World</p><div><p>Nested</p></div><h3>Title</h3>After"), "Hello\n\nWorld\n\nNested\n\nTitle\n\nAfter");
}

#[test]
fn every_form_of_br_is_a_single_line_break() {
    assert_eq!(plain("one<br>two<BR/>three<br />four<Br >five"), "one\ntwo\nthree\nfour\nfive");
}

#[test]
fn two_brs_leave_one_blank_line_and_more_do_not_add_any() {
    assert_eq!(plain("a<br><br>b<br><br><br><br>c"), "a\n\nb\n\nc");
}

#[test]
fn an_unordered_list_becomes_dash_lines() {
    assert_eq!(plain("<ul><li>Apples</li><li>Pears</li></ul>"), "- Apples\n- Pears");
}

#[test]
fn an_ordered_list_is_numbered_from_one_or_from_its_start() {
    assert_eq!(plain("<ol><li>One</li><li>Two</li></ol>"), "1. One\n2. Two");
    assert_eq!(plain("<ol start=\"4\"><li>Four</li><li>Five</li></ol>"), "4. Four\n5. Five");
}

#[test]
fn nested_lists_indent_by_two_spaces_and_number_per_list() {
    let html = "<ul><li>Fruit<ul><li>Apple</li><li>Pear</li></ul></li>\
                <li>Veg<ol><li>Leek</li><li>Kale</li></ol></li></ul>";
    assert_eq!(plain(html), "- Fruit\n  - Apple\n  - Pear\n- Veg\n  1. Leek\n  2. Kale");
}

#[test]
fn a_list_is_a_paragraph_of_its_own() {
    assert_eq!(plain("<p>Options:</p><ul><li>A</li><li>B</li></ul><p>Bye</p>"), "Options:\n\n- A\n- B\n\nBye");
}

#[test]
fn list_items_may_be_unclosed_or_wrap_paragraphs() {
    assert_eq!(plain("<ol><li>one<li><p>two</p><li></ol>next"), "1. one\n2. two\n\nnext");
}

#[test]
fn pretty_printed_html_keeps_its_intended_layout() {
    let html = "<p>Choose:</p>\n<ul>\n  <li>One</li>\n\n  <li>Two</li>\n</ul>\n<p>Line<br>\nnext</p>\n";
    assert_eq!(plain(html), "Choose:\n\n- One\n- Two\n\nLine\nnext");
}

#[test]
fn table_rows_are_lines_and_cells_are_separated_by_a_bar() {
    let html = "<table>\n<tr><th>Plan</th><th>Price</th></tr>\n<tr>\n  <td>Basic</td>\n  \
                <td>\n    5 €\n  </td>\n</tr><tr><td></td><td><p>Free</p></td></tr></table>";
    assert_eq!(plain(html), "Plan | Price\nBasic | 5 €\nFree");
}

#[test]
fn newlines_in_the_source_text_are_line_breaks() {
    assert_eq!(plain("<p>First line\nsecond line</p>"), "First line\nsecond line");
}

#[test]
fn text_without_tags_keeps_its_lines_and_decodes_entities() {
    assert_eq!(
        plain("  Hola,\r\n\r\n\r\n  gracias   por\tescribir &amp; adi&oacute;s \nFin  "),
        "Hola,\n\ngracias por escribir & adiós\nFin"
    );
}

// ----- formatting -----

#[test]
fn whatsapp_marks_bold_italic_and_strike() {
    let html = "<p>This is <strong>very</strong> <em>important</em>, <b>b</b><i>i</i> \
                and <s>old</s> <strike>x</strike> <del>y</del></p>";
    assert_eq!(whatsapp(html), "This is *very* _important_, *b*_i_ and ~old~ ~x~ ~y~");
}

#[test]
fn plain_style_has_no_markers() {
    assert_eq!(plain("<h2>Title</h2><p><b>bold</b> <i>it</i> <s>gone</s></p>"), "Title\n\nbold it gone");
}

#[test]
fn whatsapp_headings_are_bold() {
    assert_eq!(whatsapp("<h2>Title</h2><p>Body</p>"), "*Title*\n\nBody");
}

#[test]
fn markers_hug_the_text_and_spaces_move_outside() {
    assert_eq!(whatsapp("a<b> spaced </b>b"), "a *spaced* b");
}

#[test]
fn markers_around_nothing_but_whitespace_are_omitted() {
    assert_eq!(whatsapp("a<b> </b>b<i></i>c<em>\n</em>d"), "a bc\nd");
}

#[test]
fn markers_are_closed_and_reopened_around_line_breaks() {
    assert_eq!(whatsapp("<b>one<br>two</b>"), "*one*\n*two*");
}

#[test]
fn nested_or_overlapping_formatting_stays_balanced() {
    assert_eq!(whatsapp("<b>a <strong>b</strong> c</b>"), "*a b c*");
    assert_eq!(whatsapp("<b>x<i>y</b>z</i>"), "*x_y_*z");
    assert_eq!(whatsapp("<b>never closed"), "*never closed*");
}

// ----- links -----

#[test]
fn a_link_becomes_its_text_followed_by_the_url_in_parentheses() {
    assert_eq!(plain("Visit <a href=\"https://x.es/help\">our help</a>, thanks"), "Visit our help (https://x.es/help), thanks");
}

#[test]
fn a_link_whose_text_is_its_url_or_empty_is_just_the_url() {
    assert_eq!(plain("<a href=\"https://x.es\">https://x.es</a>"), "https://x.es");
    assert_eq!(plain("<a href=\"https://www.x.es/\">www.x.es</a>"), "www.x.es");
    assert_eq!(plain("see <a href='https://x.es/a'></a>"), "see https://x.es/a");
}

#[test]
fn link_attributes_may_use_any_quotes_case_and_order() {
    assert_eq!(
        plain(
            "<A class=btn TARGET='_blank' HREF = 'https://x.es/a?b=1&amp;c=2'>Go</A> \
               <a href=https://y.es/>Y</a>"
        ),
        "Go (https://x.es/a?b=1&c=2) Y (https://y.es/)"
    );
}

#[test]
fn mailto_and_tel_links_show_the_address_without_the_scheme() {
    assert_eq!(
        plain(
            "<a href=\"mailto:help@x.es\">Write us</a> or \
               <a href=\"tel:+34900123456\">call</a>"
        ),
        "Write us (help@x.es) or call (+34900123456)"
    );
    assert_eq!(plain("<a href=\"mailto:help@x.es\">help@x.es</a>"), "help@x.es");
    assert_eq!(plain("<a href=\"tel:900123456\">900 123 456</a>"), "900 123 456");
}

#[test]
fn links_without_a_usable_href_are_just_their_text() {
    assert_eq!(plain("<a>none</a> <a href=\"javascript:void(0)\">js</a> <a href=\"#top\">top</a>"), "none js top");
}

#[test]
fn relative_links_keep_their_href_as_text() {
    assert_eq!(plain("<a href=\"/faq\">FAQ</a>"), "FAQ (/faq)");
}

#[test]
fn non_ascii_link_text_stays_intact() {
    assert_eq!(plain("<a href=\"https://x.es\">Información útil</a>"), "Información útil (https://x.es)");
}

#[test]
fn formatted_link_text_keeps_its_markers_and_the_url_follows() {
    assert_eq!(whatsapp("<a href=\"https://x.es\"><b>Offers</b></a>"), "*Offers* (https://x.es)");
}

#[test]
fn an_unclosed_link_still_shows_its_url() {
    assert_eq!(plain("<a href=\"https://x.es\">Go"), "Go (https://x.es)");
}

// ----- media -----

#[test]
fn images_split_the_text_into_blocks_in_document_order() {
    let html = "<p>Look:</p><img src=\"https://cdn.x/a.png\" alt=\"A\"><p>Nice, \
                <img src='https://cdn.x/b.jpg'> right?</p>";
    assert_eq!(
        html_to_blocks(html, Style::Plain),
        vec![
            text("Look:"),
            media("https://cdn.x/a.png", MediaKind::Image),
            text("Nice,"),
            media("https://cdn.x/b.jpg", MediaKind::Image),
            text("right?"),
        ]
    );
}

#[test]
fn html_to_text_writes_each_media_url_on_its_own_line() {
    let html = "<p>Look:</p><img src=\"https://cdn.x/a.png\"><p>Nice, \
                <img src='https://cdn.x/b.jpg'> right?</p>";
    assert_eq!(plain(html), "Look:\n\nhttps://cdn.x/a.png\n\nNice,\nhttps://cdn.x/b.jpg\nright?");
}

#[test]
fn formatting_is_closed_before_a_media_block_and_reopened_after() {
    assert_eq!(
        html_to_blocks("<b>a<img src=https://c.x/i.gif>b</b>", Style::WhatsApp),
        vec![text("*a*"), media("https://c.x/i.gif", MediaKind::Image), text("*b*")]
    );
}

#[test]
fn images_without_an_absolute_http_url_are_dropped() {
    assert_eq!(html_to_blocks("<img src=\"/a.png\">Hi<img src=\"data:image/png;base64,AAA\"><img>", Style::Plain), vec![text("Hi")]);
}

#[test]
fn a_protocol_relative_image_is_taken_as_https() {
    assert_eq!(html_to_blocks("<img src=\"//cdn.x/a.webp\">", Style::Plain), vec![media("https://cdn.x/a.webp", MediaKind::Image)]);
}

#[test]
fn a_linked_image_is_not_repeated_but_a_different_link_target_is_shown() {
    assert_eq!(
        html_to_blocks(
            "<a href=\"https://c.x/big.png\"><img src=\"https://c.x/big.png\"></a>\
             <a href=\"https://shop.x\"><img src=\"https://c.x/ad.png\"></a>",
            Style::Plain
        ),
        vec![media("https://c.x/big.png", MediaKind::Image), media("https://c.x/ad.png", MediaKind::Image), text("https://shop.x"),]
    );
}

#[test]
fn an_iframe_to_a_video_file_becomes_video_media() {
    assert_eq!(
        html_to_blocks("<iframe src=\"https://cdn.x/clip.MP4?token=1\"></iframe>", Style::Plain),
        vec![media("https://cdn.x/clip.MP4?token=1", MediaKind::Video)]
    );
}

#[test]
fn an_iframe_to_a_document_becomes_file_media() {
    assert_eq!(
        html_to_blocks("Manual: <iframe src='https://cdn.x/manual.pdf#page=2'></iframe>", Style::Plain),
        vec![text("Manual:"), media("https://cdn.x/manual.pdf#page=2", MediaKind::File)]
    );
}

#[test]
fn an_iframe_to_a_page_becomes_its_url_on_its_own_line() {
    let html = "<p>Watch: <iframe width=\"560\" src=\"https://www.youtube.com/embed/abc\" \
                frameborder=\"0\">fallback <b>text</b></iframe> enjoy</p>";
    assert_eq!(html_to_blocks(html, Style::Plain), vec![text("Watch:\nhttps://www.youtube.com/embed/abc\nenjoy")]);
}

#[test]
fn video_and_audio_take_their_src_or_first_source_and_hide_fallback_text() {
    let html = "<video controls><source src=\"https://c.x/v.webm\" type=\"video/webm\">\
                <source src=\"https://c.x/v.mp4\">Your browser does not support video.</video>\
                <audio src=\"https://c.x/a.mp3\">no audio</audio><p>End</p>";
    assert_eq!(
        html_to_blocks(html, Style::Plain),
        vec![media("https://c.x/v.webm", MediaKind::Video), media("https://c.x/a.mp3", MediaKind::Audio), text("End"),]
    );
}

// ----- entities and whitespace -----

#[test]
fn entities_are_decoded_and_unknown_ones_kept() {
    assert_eq!(
        plain(
            "Caf&eacute; &amp; t&#233; &#x27;q&#39; &copy; &hellip; &euro;5 &Ntilde; \
               &ldquo;x&rdquo; &iquest;s&iacute;? &unknown; &lt;b&gt;"
        ),
        "Café & té 'q' © … €5 Ñ “x” ¿sí? &unknown; <b>"
    );
}

#[test]
fn nbsp_becomes_a_normal_space_and_runs_collapse() {
    assert_eq!(plain("a&nbsp;&nbsp;b\u{a0}c \t  d"), "a b c d");
}

#[test]
fn script_style_head_and_comments_are_dropped_with_their_content() {
    let html = "<html><head><title>T</title><meta charset=utf-8><style>p{color:red}</style>\
                </head><body><script>document.write(\"<p>x</p>\")</script>\
                <!-- hidden <b>note</b> --><p>Visible</p></body></html>";
    assert_eq!(plain(html), "Visible");
}

#[test]
fn unknown_tags_are_removed_and_their_text_kept() {
    assert_eq!(plain("<span class=x>a</span> <custom-tag>b</custom-tag><u>c</u>"), "a bc");
}

// ----- malformed input -----

#[test]
fn an_unclosed_paragraph_is_still_rendered() {
    assert_eq!(plain("<p>unclosed"), "unclosed");
}

#[test]
fn a_stray_less_than_sign_is_text() {
    assert_eq!(plain("a < b and c > d"), "a < b and c > d");
    assert_eq!(plain("<<>>"), "<<>>");
    assert_eq!(plain("1 <2 <ñ>"), "1 <2 <ñ>");
}

#[test]
fn a_tag_cut_off_by_the_end_of_input_is_dropped() {
    assert_eq!(plain("Click <a href="), "Click");
    assert_eq!(plain("<a href="), "");
}

#[test]
fn a_lone_ampersand_and_an_impossible_code_point_do_not_break_anything() {
    assert_eq!(plain("Tom & Jerry &"), "Tom & Jerry &");
    assert_eq!(plain("&#99999999;"), "\u{FFFD}");
}

#[test]
fn stray_end_tags_are_ignored() {
    assert_eq!(plain("</p></div></b></a>text</li></ul>"), "text");
}

#[test]
fn empty_input_gives_no_blocks() {
    assert!(html_to_blocks("", Style::Plain).is_empty());
    assert!(html_to_blocks("<p> </p><br><div></div>", Style::WhatsApp).is_empty());
    assert_eq!(plain(""), "");
}

#[test]
fn huge_and_deeply_nested_input_is_handled_quickly() {
    let deep = format!("{}x{}", "<b><ul><li><td>".repeat(50_000), "</b>".repeat(50_000));
    assert!(whatsapp(&deep).contains('x'));
    let long = "<p>Hola <b>mundo</b> &amp; <a href=https://x.es>más</a></p>".repeat(20_000);
    assert_eq!(plain(&long).matches("más (https://x.es)").count(), 20_000);
    for garbage in ["<a", "<a b", "&#", "</a", "<!", "<script>", "<<", "\u{1F600}"] {
        let input = garbage.repeat(100_000);
        let _ = html_to_blocks(&input, Style::WhatsApp);
    }
}

// ----- property-style -----

const FRAGMENTS: [&str; 48] = [
    "<p>",
    "</p>",
    "<b>",
    "</b>",
    "<i>",
    "<strong>",
    "<h2>",
    "</h2>",
    "<ul>",
    "<ol>",
    "<li>",
    "</li>",
    "</ul>",
    "<table>",
    "<tr>",
    "<td>",
    "</td>",
    "<br>",
    "<br/>",
    "<a href=\"https://x.es/",
    "\">",
    "</a>",
    "<a href=mailto:a@b.c>",
    "<img src=https://i.es/a.png>",
    "<iframe src='https://v.es/v.mp4'>",
    "</iframe>",
    "<video>",
    "<source src=https://a.es/a.mp3>",
    "</video>",
    "<!--",
    "-->",
    "<script>",
    "</script>",
    "<",
    ">",
    "&",
    "&#",
    "x27;",
    "amp;",
    "&nbsp;",
    "\"",
    "=",
    " ",
    "\n",
    "word",
    "é😀",
    "日本語。",
    "Fin. ",
];

/// Deterministic pseudo-random numbers (a 64-bit LCG), no `rand` crate.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        usize::try_from(self.0 >> 33).unwrap_or(0) % n
    }
}

fn assert_tidy(rendered: &str) {
    assert_eq!(rendered, rendered.trim());
    assert!(!rendered.contains("\n\n\n"), "{rendered:?}");
    assert!(rendered.lines().all(|l| l == l.trim_end()), "{rendered:?}");
}

fn non_whitespace(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[test]
fn random_tag_soup_never_panics_and_chunks_respect_the_limit() {
    let mut rng = Lcg(42);
    for _ in 0..400 {
        let len = rng.below(60);
        let html: String = (0..len).map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())]).collect();
        for block in html_to_blocks(&html, Style::WhatsApp) {
            if let Block::Text(t) = block {
                assert!(!t.is_empty());
                assert_tidy(&t);
            }
        }
        let rendered = html_to_text(&html, Style::Plain);
        assert_tidy(&rendered);
        for max in [1, 7, 40] {
            let chunks = split_text(&rendered, max);
            assert!(chunks.iter().all(|c| !c.is_empty() && c.chars().count() <= max));
            assert_eq!(non_whitespace(&chunks.concat()), non_whitespace(&rendered));
            let packed = pack(&chunks, "\n\n", max);
            assert!(packed.iter().all(|c| !c.is_empty() && c.chars().count() <= max));
            assert_eq!(non_whitespace(&packed.concat()), non_whitespace(&rendered));
        }
    }
}
